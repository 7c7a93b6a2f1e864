"""Image-to-image in the one sampling loop: where to start, how to noise the start, the mask blend.

The arithmetic is diffusers' img2img/inpaint pipelines' on the model's own first stage:

- `strength` s picks the first step as `get_timesteps` does: of S steps, the last
  `min(int(S·s), S)` run (× the scheduler's order); s = 1 is plain generation from noise,
  s = 0 runs no step and returns the input's reconstruction decode(encode(x));
- the start is `scheduler.add_noise(encode(x), noise, t_first)`, with the same per-image noise
  (generator seed + i) a plain generation would draw;
- with a mask, after every step the unmasked latents are replaced by the input's latents noised
  to the next step (the last step: the input's latents), the mask shrunk to latent size by
  nearest neighbour; the written picture is then the composite, so unmasked pixels are the
  input's exactly.

A feathered mask (`InitImage.feather` > 0) is soft: the painted mask, resized to the output by
nearest neighbour, is blurred by `image_inputs.feathered` (radius scaled to the output) into
weights m in [0, 1]. Both blends stay the same linear formulas with those weights:

- in the loop, m is shrunk to the latent by area averaging (a latent cell half inside the soft
  edge is half repainted), and after every step latents = (1 − m)·known_t + m·latents, where
  known_t is the input's latents noised to the same next step with the same noise: both terms
  sit at one noise level, so their mix does too;
- the written picture is alpha-blended, (1 − m)·input + m·sample per pixel: where m is 0
  (farther than the radius from anything painted) the input's pixels come back exactly, where m
  is 1 the sample's, and the edge fades between them instead of showing a seam.

Without feather both use the hard 0/1 mask exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.samplers import sampler_label

if TYPE_CHECKING:
    from ldm_studio.core.families.base import LatentDiffusionModel
    from ldm_studio.core.generation.image_inputs import InitImage
    from ldm_studio.core.generation.requests import GenerationRequest


def first_step(steps: int, strength: float) -> int:
    """How many of `steps` are skipped at `strength` (diffusers' `get_timesteps`)."""
    return max(steps - min(int(steps * strength), steps), 0)


def check_starts_mid_schedule(scheduler: object, sampler: str) -> None:
    """RequestError naming the sampler when its scheduler cannot noise a start to a given step."""
    if not callable(getattr(scheduler, "add_noise", None)):
        raise RequestError(
            "sampler",
            f"the {sampler_label(sampler)} sampler cannot start part-way through its schedule, which "
            f"image-to-image needs; pick DDIM, Euler or DPM++",
        )


def resized_pixels(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 at (width, height): Lanczos when the size differs, the pixels themselves otherwise."""
    if image.shape[:2] == (height, width):
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def resized_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W) bool at (width, height) by nearest neighbour (stays a hard mask)."""
    if mask.shape == (height, width):
        return mask
    from PIL import Image

    grey = Image.fromarray(mask.astype(np.uint8) * 255).resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(grey) >= 128


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (1, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].to(torch.float32) / 255.0


def mask_tensor(mask: np.ndarray) -> torch.Tensor:
    """(H, W) bool → (1, 1, H, W) float32 in {0, 1}."""
    return torch.from_numpy(np.array(mask, dtype=np.float32))[None, None]


def pixel_mask(mask: np.ndarray, width: int, height: int, feather: int = 0) -> torch.Tensor:
    """The mask at the output size as (1, 1, H, W) float32 weights: 0/1, or soft with `feather`
    (given in pixels of `mask`, scaled to the output's)."""
    hard = resized_mask(mask, width, height)
    if feather <= 0:
        return mask_tensor(hard)
    from ldm_studio.core.generation.image_inputs import feathered

    radius = max(1, round(feather * width / mask.shape[1]))
    return torch.from_numpy(feathered(hard, radius))[None, None]


def composite(sample: torch.Tensor, image: np.ndarray, mask: np.ndarray, feather: int = 0) -> torch.Tensor:
    """(1 − m)·image + m·sample in [0, 1] (B, 3, H, W), m the (soft, with `feather`) mask: where m
    is 0 the input's pixels come back exactly (p/255 · 255 rounds to p when written)."""
    height, width = sample.shape[-2:]
    pixels = image_tensor(resized_pixels(image, width, height))
    m = pixel_mask(mask, width, height, feather)
    return (1 - m) * pixels + m * sample


@dataclass
class Start:
    """Where the loop starts: its latents, the timesteps still to run and the mask blend's inputs."""

    latents: torch.Tensor
    timesteps: torch.Tensor
    init_latents: torch.Tensor | None = None  # (B, C, h, w) the input's latents, for the mask blend
    mask: torch.Tensor | None = None  # (B, 1, h, w), 1 = repaint
    noise: torch.Tensor | None = None

    def blend(self, scheduler, latents: torch.Tensor, next_t: torch.Tensor | None) -> torch.Tensor:
        """After a step: unmasked latents become the input's, noised to `next_t` (None after the last step)."""
        if self.mask is None or self.init_latents is None:
            return latents
        known = self.init_latents
        if next_t is not None:
            known = scheduler.add_noise(known, self.noise, next_t.reshape(1).repeat(len(known)))
        return (1 - self.mask) * known + self.mask * latents


def start(model: LatentDiffusionModel, scheduler, request: GenerationRequest, noise: torch.Tensor) -> Start:
    """The loop's starting latents and timesteps for `request` (plain generation without an init image)."""
    timesteps = scheduler.timesteps
    init: InitImage | None = request.init
    if init is None:
        return Start(noise * scheduler.init_noise_sigma, timesteps)
    s = request.settings
    check_starts_mid_schedule(scheduler, s.sampler)
    pixels = image_tensor(resized_pixels(init.image, s.width, s.height))
    encoded = model.encode_images(pixels * 2 - 1).to(noise.dtype)
    init_latents = encoded.expand(len(noise), -1, -1, -1)
    mask = None
    if init.mask is not None:
        full = pixel_mask(init.mask, s.width, s.height, init.feather)
        shrink = "area" if init.feather > 0 else "nearest"  # a soft edge keeps its partial weights
        mask = F.interpolate(full, size=noise.shape[-2:], mode=shrink).to(noise.device, noise.dtype)
        mask = mask.expand(len(noise), -1, -1, -1)
    if init.strength >= 1.0:
        return Start(noise * scheduler.init_noise_sigma, timesteps, init_latents, mask, noise)
    begin = first_step(s.steps, init.strength) * scheduler.order
    timesteps = timesteps[begin:]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)
    if len(timesteps) == 0:  # strength 0: the reconstruction, no step runs
        return Start(init_latents.clone(), timesteps, init_latents, mask, noise)
    latents = scheduler.add_noise(init_latents, noise, timesteps[:1].repeat(len(noise)))
    return Start(latents, timesteps, init_latents, mask, noise)
