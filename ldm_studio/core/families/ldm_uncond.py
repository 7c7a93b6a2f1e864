"""Unconditional LDM (CompVis/ldm-celebahq-256, the celeba/ffhq/lsun configs): no conditioning at all.

There is nothing to guide towards, so guidance is off whatever the scale says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ldm_studio.core.errors import RequestError
from ldm_studio.core.families.base import (
    Conditioning,
    ConditionTensors,
    LatentDiffusionModel,
    ProgressFn,
)
from ldm_studio.core.families.registry import ConverterHook, DiffusersLayout, FamilySpec, register
from ldm_studio.core.generation.requests import Condition, GenerationRequest, UnconditionalCondition
from ldm_studio.core.models.model_folder import Defaults, ModelInfo

if TYPE_CHECKING:
    from ldm_studio.core.generation.device import DeviceChoice


class UnconditionalModel(LatentDiffusionModel):
    family = "uncond"

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> UnconditionalModel:
        return cls.load_plain(info, choice, progress)

    @property
    def has_unconditional(self) -> bool:
        return False

    def default_condition(self) -> Condition:
        return UnconditionalCondition()

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        if not isinstance(condition, UnconditionalCondition):
            raise RequestError("condition", f"an unconditional model takes no {type(condition).__name__}")
        return Conditioning(ConditionTensors())


SPEC = register(
    FamilySpec(
        name="uncond",
        title="no conditioning",
        model_class=UnconditionalModel,
        builder=UnconditionalCondition,
        conditions=(UnconditionalCondition,),
        components=("unet", "scheduler"),
        defaults=Defaults(sampler="ddim", steps=200, guidance=1.0, eta=0.0),
        # CompVis/ldm-celebahq-256's vqvae config says scaling_factor 0.18215, but the model
        # was trained on unscaled VQ latents: the LDMPipeline never applies it. Use 1.0.
        diffusers=(DiffusersLayout("LDMPipeline", Defaults("ddim", 200, 1.0, 0.0), scale_factor=1.0),),
        converter=ConverterHook(cond_stages=((None, None),)),
    )
)
