"""TAESD live previews: the loop's x0 prediction decoded by an installed tiny autoencoder.

TAESD / TAESDXL (madebyollin, diffusers `AutoencoderTiny`) are catalogue components with the
role "preview_decoder" for the `sd` / `sdxl` families. They decode the latents the U-Net works
with (scaled: their `scaling_factor` is 1) to full-resolution pictures at a small fraction of the
real decoder's cost (`python bench/run.py previews`, docs/benchmarks.md), so a preview looks
like the final image instead of the linear projection's blurry latent-resolution colours.
`PreviewPolicy` (core.generation.previews) renders through it when the policy has one.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ldm_studio.core.errors import LdmStudioError, ModelFolderError

if TYPE_CHECKING:
    from ldm_studio.core.families.base import LatentDiffusionModel

log = logging.getLogger(__name__)

# one loaded TAESD per loaded model (dropped with the model), None when the model has none installed
_loaded: weakref.WeakKeyDictionary[Any, TaesdPreview | None] = weakref.WeakKeyDictionary()


@dataclass(eq=False)
class TaesdPreview:
    """A loaded tiny autoencoder's decoder, run where the latents are, in the model's dtype."""

    name: str  # the installed component's name
    autoencoder: Any  # diffusers AutoencoderTiny

    @property
    def label(self) -> str:
        return f"TAESD ({self.name})"

    @torch.inference_mode()
    def project_on_device(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) latents → (B, H, W, 3) uint8 where the latents are."""
        param = next(self.autoencoder.parameters())
        z = latents.detach().to(param.device, param.dtype)
        images = self.autoencoder.decode(z).sample  # [-1, 1]
        return ((images.float() / 2 + 0.5).clamp_(0, 1) * 255).round_().to(torch.uint8).permute(0, 2, 3, 1)

    def project(self, latents: torch.Tensor) -> np.ndarray:
        """(B, C, h, w) latents → (B, H, W, 3) uint8 on the CPU."""
        return self.project_on_device(latents).cpu().numpy()


def taesd_preview_for(model: LatentDiffusionModel) -> TaesdPreview | None:
    """The installed TAESD of the model's family, loaded on the model's device once; None without one.

    A component that does not fit (other latent channels, unreadable) is logged and left out: the
    preview falls back to the approximate decoder or the linear projection, sampling is unaffected."""
    if model in _loaded:
        return _loaded[model]
    found = _load_for(model)
    _loaded[model] = found
    return found


def _load_for(model: LatentDiffusionModel) -> TaesdPreview | None:
    from diffusers import AutoencoderTiny

    from ldm_studio.core.families.base import load_component
    from ldm_studio.core.models.components import find_component

    component = find_component(model.info.family, "preview_decoder")
    if component is None:
        return None
    try:
        tiny = load_component(AutoencoderTiny, component.folder, model.choice)
    except ModelFolderError as exc:
        log.warning("TAESD %s not used: %s", component.name, exc)
        return None
    channels = tiny.config.latent_channels
    if channels != model.info.latent_channels:
        log.warning(
            "TAESD %s not used: it decodes %d latent channels, %s has %d",
            component.name,
            channels,
            model.info.name,
            model.info.latent_channels,
        )
        return None
    return TaesdPreview(component.name, tiny)


def safe_taesd_preview_for(model: LatentDiffusionModel) -> TaesdPreview | None:
    """`taesd_preview_for`, but a broken store (unreadable index) only loses the TAESD preview."""
    try:
        return taesd_preview_for(model)
    except LdmStudioError as exc:
        log.warning("no TAESD preview: %s", exc)
        return None
