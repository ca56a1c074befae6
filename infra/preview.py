"""Values a preview cannot know yet (an image not pushed), shown as computed rather than dropped."""

from __future__ import annotations

import pulumi


def unknown() -> pulumi.Output[str]:
    """A value a preview shows as computed (the engine's unknown)."""
    async def value() -> None:
        return None

    async def known() -> bool:
        return False

    return pulumi.Output(set(), value(), known())
