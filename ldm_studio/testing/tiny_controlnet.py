"""Tiny random-weight ControlNets for tests and benchmarks, matching the tiny SD U-Nets of `tiny_sd`.

`ControlNetModel.from_unet` zero-initialises the residual convolutions (as training starts), so a
fresh one changes nothing; here every weight is drawn at random so the ControlNet really steers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, UNet2DConditionModel

from ldm_studio.core.generation.samplers import make_scheduler


def tiny_controlnet(unet: UNet2DConditionModel, seed: int = 0) -> ControlNetModel:
    """A ControlNet for `unet` (same blocks, cross-attention width), every weight random."""
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 8, 8))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in net.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    return net.eval()


def write_controlnet(folder: Path, model_folder: Path, seed: int = 0) -> Path:
    """A diffusers ControlNet folder (config.json + safetensors) for the SD model in `model_folder`."""
    unet = UNet2DConditionModel.from_pretrained(model_folder / "unet")
    tiny_controlnet(unet, seed).save_pretrained(folder)
    return folder


def diffusers_controlnet_pipeline(
    model, controlnet: ControlNetModel, sampler: str
) -> StableDiffusionControlNetPipeline:
    """diffusers' StableDiffusionControlNetPipeline on a loaded `sd` model's components, a ControlNet and a sampler."""
    pipe = StableDiffusionControlNetPipeline(
        vae=model.autoencoder,
        text_encoder=model.text.model,
        tokenizer=model.text.tokenizer,
        unet=model.unet,
        controlnet=controlnet,
        scheduler=make_scheduler(sampler, model.scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def painted_ade_map(height: int = 64, width: int = 64) -> np.ndarray:
    """A small ADE20K layout: sky (2) over a tree band (4) over grass (9), a road (6) in the middle."""
    out = np.full((height, width), 9, dtype=np.int64)
    out[: height * 2 // 5] = 2
    out[height * 2 // 5 : height // 2] = 4
    out[height * 3 // 4 :, width // 3 : width * 2 // 3] = 6
    return out


def diffusers_sdxl_controlnet_pipeline(model, controlnet: ControlNetModel, sampler: str):
    """diffusers' StableDiffusionXLControlNetPipeline on a loaded `sdxl` model's components and a ControlNet."""
    from diffusers import StableDiffusionXLControlNetPipeline

    pipe = StableDiffusionXLControlNetPipeline(
        vae=model.autoencoder,
        text_encoder=model.text.model,
        tokenizer=model.text.tokenizer,
        text_encoder_2=model.text_2.model,
        tokenizer_2=model.text_2.tokenizer,
        unet=model.unet,
        controlnet=controlnet,
        scheduler=make_scheduler(sampler, model.scheduler_config),
        force_zeros_for_empty_prompt=model.zero_empty_negative,
        add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
