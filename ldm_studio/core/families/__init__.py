"""Model families: one small class each behind `LatentDiffusionModel`, looked up by name."""

from __future__ import annotations

from ldm_studio.core.families.base import LatentDiffusionModel
from ldm_studio.core.families.ldm_text import TextToImageModel

FAMILIES: dict[str, type[LatentDiffusionModel]] = {
    TextToImageModel.family: TextToImageModel,
}

__all__ = ["FAMILIES", "LatentDiffusionModel"]
