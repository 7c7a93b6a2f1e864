"""Inpainting LDM (CompVis inpainting_big): the masked picture's first-stage encoding and the mask, concatenated.

Exactly what CompVis `scripts/inpaint.py` (a506df5) does: the mask is white (≥ 0.5) where the
picture is repainted; `masked_image = (1 − mask)·image`; picture, mask and masked picture are
scaled to [-1, 1]; `c = cond_stage_model.encode(masked_image)` (the first stage's encoder and
quant_conv, not quantised and not multiplied by the scale factor: `cond_stage_config:
__is_first_stage__`); the mask (in {-1, 1}) is resized to latent size by nearest neighbour and
concatenated after `c`; the written picture is `(1 − mask)·image + mask·sample`. (The script
truncates to uint8; we round, as every written image here is rounded.) No guidance.
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
from ldm_studio.core.families.registry import ConverterHook, FamilySpec, register
from ldm_studio.core.generation.image_inputs import InpaintCondition
from ldm_studio.core.generation.requests import Condition, GenerationRequest
from ldm_studio.core.lazy_torch import no_grad
from ldm_studio.core.models.model_folder import Defaults, ModelInfo

if TYPE_CHECKING:  # torch and diffusers load with the model, not with the registry
    import torch

    from ldm_studio.core.generation.device import DeviceChoice


class InpaintingModel(LatentDiffusionModel):
    family = "inpaint"

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> InpaintingModel:
        return cls.load_plain(info, choice, progress, extra=info.latent_channels + 1, what="masked-image latent + mask")

    @property
    def has_unconditional(self) -> bool:
        return False

    def default_condition(self) -> Condition:
        return InpaintCondition(np.zeros((32, 32, 3), dtype=np.uint8), np.zeros((32, 32), dtype=bool))

    @no_grad
    def concat_input(self, condition: InpaintCondition, request: GenerationRequest) -> torch.Tensor:
        """(1, C + 1, h, w): encode(masked image) then the mask in {-1, 1} at latent size."""
        import torch
        import torch.nn.functional as F
        from diffusers import AutoencoderKL

        from ldm_studio.core.generation.img2img import image_tensor, mask_tensor, resized_mask, resized_pixels

        s = request.settings
        image = image_tensor(resized_pixels(condition.image, s.width, s.height))
        mask = mask_tensor(resized_mask(condition.mask, s.width, s.height))
        masked = ((1 - mask) * image * 2 - 1).to(self.device, self.dtype)
        if isinstance(self.autoencoder, AutoencoderKL):
            c = self.autoencoder.encode(masked).latent_dist.mean
        else:
            c = self.autoencoder.encode(masked).latents
        cc = F.interpolate((mask * 2 - 1).to(self.device, self.dtype), size=c.shape[-2:])
        return torch.cat([c, cc], dim=1)

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        if not isinstance(condition, InpaintCondition):
            raise RequestError(
                "condition", f"an inpaint model takes an InpaintCondition, not {type(condition).__name__}"
            )
        concat = self.concat_input(condition, request)
        return Conditioning(ConditionTensors(concat=concat.expand(batch_size, -1, -1, -1)))

    def finish(self, images: torch.Tensor, request: GenerationRequest) -> torch.Tensor:
        """The composite (1 − mask)·image + mask·sample: unmasked pixels are the input's exactly."""
        from ldm_studio.core.generation.img2img import composite

        condition = request.condition
        assert isinstance(condition, InpaintCondition)
        return composite(images, condition.image, condition.mask)


SPEC = register(
    FamilySpec(
        name="inpaint",
        title="masked image + mask → concatenated (inpainting)",
        model_class=InpaintingModel,
        builder=InpaintCondition,
        conditions=(InpaintCondition,),
        components=("unet", "scheduler"),
        defaults=Defaults(sampler="ddim", steps=50, guidance=1.0, eta=0.0),  # scripts/inpaint.py: 50 DDIM, eta 0
        # inpainting_big: the first stage's encoding of the masked image, plus the mask, concatenated
        converter=ConverterHook(
            cond_stages=(("__is_first_stage__", "concat"),),
            concat_channels=lambda _config, first_stage: first_stage.embed_dim + 1,
            concat_name="masked-image latent + mask",
        ),
    )
)
