"""Super-resolution LDM (CompVis bsr_sr, CompVis/ldm-super-resolution-4x-openimages): the low-resolution
picture concatenated to the latent.

As the original data pipeline feeds it (`LR_image`, `cond_stage_config: torch.nn.Identity`,
`conditioning_key: concat`) and as diffusers' `LDMSuperResolutionPipeline` does: the picture,
scaled to [-1, 1], at latent size, goes after the latent channels; the output is latent-factor
(4) × the input. A picture not at latent size is resized to it (Lanczos, like the pipeline's
`preprocess`). No unconditional input, so no guidance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ldm_studio.core.errors import RequestError
from ldm_studio.core.families.base import (
    Conditioning,
    ConditionTensors,
    LatentDiffusionModel,
    ProgressFn,
)
from ldm_studio.core.families.registry import ConverterHook, DiffusersLayout, FamilySpec, register
from ldm_studio.core.generation.image_inputs import SuperResCondition
from ldm_studio.core.generation.requests import Condition, GenerationRequest
from ldm_studio.core.models.model_folder import Defaults, ModelInfo

if TYPE_CHECKING:  # torch loads with the model, not with the registry
    import torch

    from ldm_studio.core.generation.device import DeviceChoice


class SuperResolutionModel(LatentDiffusionModel):
    family = "superres"

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> SuperResolutionModel:
        return cls.load_plain(info, choice, progress, extra=3, what="RGB")

    @property
    def has_unconditional(self) -> bool:
        return False

    def default_condition(self) -> Condition:
        return SuperResCondition(np.zeros((8, 8, 3), dtype=np.uint8))

    def low_resolution(self, condition: SuperResCondition, request: GenerationRequest) -> torch.Tensor:
        """(1, 3, h, w) in [-1, 1]: the input at latent size, as the U-Net sees it next to the latent."""
        from ldm_studio.core.generation.img2img import image_tensor, resized_pixels

        _, h, w = self.latent_shape(request)
        pixels = image_tensor(resized_pixels(condition.image, w, h))
        return (pixels * 2 - 1).to(self.device, self.dtype)

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        if not isinstance(condition, SuperResCondition):
            raise RequestError(
                "condition", f"a superres model takes a SuperResCondition, not {type(condition).__name__}"
            )
        image = self.low_resolution(condition, request)
        return Conditioning(ConditionTensors(concat=image.expand(batch_size, -1, -1, -1)))


SPEC = register(
    FamilySpec(
        name="superres",
        title="low-resolution image → concatenated (×4 upscaling)",
        model_class=SuperResolutionModel,
        builder=SuperResCondition,
        conditions=(SuperResCondition,),
        components=("unet", "scheduler"),
        # the original notebook's sampling: 100 DDIM steps, eta 1
        defaults=Defaults(sampler="ddim", steps=100, guidance=1.0, eta=1.0),
        # The hub repo's vqvae config says scaling_factor 0.18215 (VQModel's default), but the
        # pipeline never applies it: the model samples unscaled VQ latents. Use 1.0.
        diffusers=(
            DiffusersLayout("LDMSuperResolutionPipeline", Defaults("ddim", 100, 1.0, 0.0), scale_factor=1.0),
        ),
        # bsr_sr: the low-resolution image itself is the conditioning (cond_stage torch.nn.Identity)
        converter=ConverterHook(
            cond_stages=(("torch.nn.Identity", "concat"),),
            concat_channels=lambda _config, first_stage: first_stage.in_channels,
            concat_name="image",
        ),
    )
)
