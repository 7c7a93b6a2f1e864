"""Tiny random-weight catalogue components (no network): a TAESD-shaped `AutoencoderTiny` and a VAE."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, AutoencoderTiny


def tiny_taesd(seed: int = 0, width: int = 8, latent_channels: int = 4) -> AutoencoderTiny:
    """TAESD's layout (four blocks, three 2× upsamplings: f=8) with few channels and one block per stage."""
    torch.manual_seed(seed)
    return AutoencoderTiny(
        encoder_block_out_channels=(width,) * 4,
        decoder_block_out_channels=(width,) * 4,
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=latent_channels,
    ).eval()


def write_tiny_taesd(folder: Path, seed: int = 0, latent_channels: int = 4) -> Path:
    """A TAESD repo as the hub has it in diffusers format: config.json + diffusion_pytorch_model.safetensors."""
    tiny_taesd(seed, latent_channels=latent_channels).save_pretrained(folder, safe_serialization=True)
    return folder


def write_tiny_vae(folder: Path, seed: int = 5, scaling_factor: float = 0.13025) -> Path:
    """A replacement VAE component (the shape of `tiny_sd.tiny_vae`, other weights)."""
    from ldm_studio.testing.tiny_sd import tiny_vae

    vae: AutoencoderKL = tiny_vae(seed, scaling_factor=scaling_factor)
    vae.save_pretrained(folder, safe_serialization=True)
    return folder
