"""The previews' block of the flow input (its options; every one has a default)."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from typing import TypedDict, cast

from tomocupy_gladier.tools.step import RunFacts


class PreviewsBlock(TypedDict, total=False):
    """``previews``: options of the previews step (every one has a default)."""

    folder: str
    percentiles: list[float]
    max_size: int
    max_sections: int
    pixel_size_um: float
    tile_size: int
    montage_max: int


class PreviewsInput(TypedDict):
    """The previews' key of the flow input."""

    previews: PreviewsBlock


def previews_block(facts: RunFacts) -> PreviewsInput:
    """The previews' part of the flow input: the run's options (the flow's schema checks them)."""
    return {"previews": cast(PreviewsBlock, dict(facts.previews or {}))}
