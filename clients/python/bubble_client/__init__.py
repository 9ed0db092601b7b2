"""Python client of Bubble item processing.

The protobuf messages and gRPC stubs under ``bubble_client._generated`` are written by betterproto2
from proto/ (``./pants run tools:codegen``) and committed, so the client installs without a code
generator.
"""
