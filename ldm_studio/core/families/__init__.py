"""Model families: one small class each behind `LatentDiffusionModel`, looked up by name."""

from __future__ import annotations

from ldm_studio.core.families.base import LatentDiffusionModel
from ldm_studio.core.families.ldm_class import ClassConditionalModel
from ldm_studio.core.families.ldm_multi import MultiConditionModel
from ldm_studio.core.families.ldm_semantic import SemanticMapModel
from ldm_studio.core.families.ldm_text import TextToImageModel
from ldm_studio.core.families.ldm_uncond import UnconditionalModel

FAMILIES: dict[str, type[LatentDiffusionModel]] = {
    TextToImageModel.family: TextToImageModel,
    ClassConditionalModel.family: ClassConditionalModel,
    SemanticMapModel.family: SemanticMapModel,
    UnconditionalModel.family: UnconditionalModel,
    MultiConditionModel.family: MultiConditionModel,
}

__all__ = ["FAMILIES", "LatentDiffusionModel"]
