"""Bounds on what an original config may ask the converter to build, checked before building it.

A config is a small text file that decides how much memory the converter allocates: a
`model_channels: 32768` or a YAML alias bomb would make the allocator (or a repr in an error
message) fail minutes in, with a traceback. These checks say what is wrong, by name, first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ldm_studio.core.errors import ConversionError
from ldm_studio.core.models.convert.unet import UNetLayout

MAX_CONFIG_NODES = 100_000  # an original config has a few hundred; YAML aliases can make billions
MAX_MODEL_CHANNELS = 4096  # the CompVis models use 128-448
MAX_CHANNEL_MULT = 32
MAX_LEVELS = 8
MAX_RES_BLOCKS = 16


def check_config_size(file: Path, data: Any) -> None:
    """Refuse a parsed YAML whose aliases expand to more than MAX_CONFIG_NODES values.

    Counted with each shared node's size memoised, so the count itself is linear in the file.
    """
    sizes: dict[int, int] = {}

    def size(node: Any, depth: int) -> int:
        if depth > 64:
            raise ConversionError(file, "is nested more than 64 levels deep: not an original config")
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key not in sizes:
            sizes[key] = 0  # a self-referencing alias counts once
            children = node.values() if isinstance(node, dict) else node
            sizes[key] = 1 + sum(min(size(child, depth + 1), MAX_CONFIG_NODES + 1) for child in children)
        return sizes[key]

    total = size(data, 0)
    if total > MAX_CONFIG_NODES:
        raise ConversionError(
            file, f"expands to more than {MAX_CONFIG_NODES} values (YAML aliases?): not an original config"
        )


def check_unet_layout(file: Path, layout: UNetLayout) -> None:
    """Sanity bounds on the U-Net's size settings, before anything is allocated."""
    where = "unet_config.params"
    if not 1 <= layout.model_channels <= MAX_MODEL_CHANNELS:
        raise ConversionError(
            file, f"{where}.model_channels = {layout.model_channels} is outside 1..{MAX_MODEL_CHANNELS}"
        )
    mult = layout.channel_mult
    if not 1 <= len(mult) <= MAX_LEVELS or not all(1 <= m <= MAX_CHANNEL_MULT for m in mult):
        shown = ", ".join(str(m) for m in mult[: MAX_LEVELS + 1])
        raise ConversionError(
            file, f"{where}.channel_mult [{shown}] must be 1..{MAX_LEVELS} multipliers in 1..{MAX_CHANNEL_MULT}"
        )
    if not 1 <= layout.num_res_blocks <= MAX_RES_BLOCKS:
        raise ConversionError(
            file, f"{where}.num_res_blocks = {layout.num_res_blocks} is outside 1..{MAX_RES_BLOCKS}"
        )


def check_unet_against_weights(
    file: Path, config_file: Path, layout: UNetLayout, weights: dict[str, torch.Tensor]
) -> None:
    """The config's U-Net must be the one the checkpoint holds: compared on the input convolution and size.

    Checked after reading the checkpoint and before building the U-Net, so a config that asks for
    a model far larger than the weights fails in a line instead of in the allocator.
    """
    conv = weights.get("input_blocks.0.0.weight")
    if conv is not None and conv.ndim == 4 and conv.shape[0] != layout.model_channels:
        raise ConversionError(
            config_file,
            f"unet_config.params.model_channels = {layout.model_channels}, but the checkpoint's U-Net has "
            f"{conv.shape[0]} ({file.name})",
        )
    # a lower bound of the parameters the layout builds: one 3x3 convolution per ResBlock
    lower = sum(layout.num_res_blocks * 9 * ch * ch for ch in layout.channels)
    stored = sum(t.numel() for t in weights.values())
    if lower > stored:
        raise ConversionError(
            config_file,
            f"describes a U-Net of at least {lower:,} parameters; the checkpoint's has {stored:,} ({file.name})",
        )
