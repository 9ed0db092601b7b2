"""Every message and enum of ``bubble.processing.v1``, as betterproto2 dataclasses.

from bubble_client.messages import ImageInput, RunState
"""

from bubble_client._generated.bubble.processing.v1 import *  # noqa: F403
