"""The speed and memory options `generate` and `batch` share (see `core.generation.speed`)."""

from __future__ import annotations

import argparse
from typing import Any


def add_speed_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speed and memory (GPU)")
    g.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the U-Net (compiles at load, reported separately; faster steps on a GPU)",
    )
    g.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels_last memory format for the U-Net and decoder (default: on CUDA only)",
    )
    g.add_argument("--vae-tiling", action="store_true", help="decode large images in tiles (less GPU memory)")
    g.add_argument("--vae-slicing", action="store_true", help="decode a batch one image at a time (less GPU memory)")
    g.add_argument(
        "--offload",
        choices=("none", "model"),
        default="none",
        help="model: keep parts in CPU memory, each moved to the GPU while it runs (low-VRAM GPUs)",
    )
    g.add_argument("--vae", metavar="COMPONENT", help="an installed replacement VAE (e.g. sdxl-vae-fp16-fix)")


def speed_from_args(args: argparse.Namespace) -> Any:
    """The `SpeedOptions` the options ask for (torch is imported here, not when the CLI starts)."""
    from ldm_studio.core.generation.speed import SpeedOptions

    return SpeedOptions(
        compile=bool(getattr(args, "compile", False)),
        channels_last=getattr(args, "channels_last", None),
        vae_tiling=bool(getattr(args, "vae_tiling", False)),
        vae_slicing=bool(getattr(args, "vae_slicing", False)),
        offload=getattr(args, "offload", None) or "none",
        vae=getattr(args, "vae", None),
    )
