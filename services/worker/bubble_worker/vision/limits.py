"""How long each field of a model's answer may be: asked for in the prompt, enforced on the
answer (a longer field is dropped, not cut: a cut sentence reads worse than none)."""

from __future__ import annotations

from typing import Final

TITLE: Final = 120
CATEGORY: Final = 80
TAG: Final = 40
TAGS: Final = 20
DESCRIPTION: Final = 1_000
ATTRIBUTES: Final = 20
ATTRIBUTE_NAME: Final = 40
ATTRIBUTE_VALUE: Final = 120
