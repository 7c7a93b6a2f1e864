"""The small conditioning encoders of the class and semantic LDMs, stored in `cond_stage/`.

diffusers has no class for them, so they live here as plain torch modules with the original
maths (CompVis `ldm/modules/encoders/modules.py`): `ClassEmbedder` is an embedding table read
as a length-1 cross-attention context; `SpatialRescaler` resizes a one-hot map by repeated
interpolation and mixes its channels with a 1×1 convolution. A `cond_stage/` folder holds
`config.json` and `model.safetensors`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, overload

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ldm_studio.core.errors import ModelFolderError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INTERPOLATION_MODES = ("nearest", "linear", "bilinear", "trilinear", "bicubic", "area")


class ClassEmbedder(nn.Module):
    """Class index → (B, 1, D) context; the last row is the "no class" input of guidance."""

    def __init__(self, n_classes: int = 1001, embed_dim: int = 512) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.embed_dim = embed_dim
        self.embedding = nn.Embedding(n_classes, embed_dim)

    def forward(self, class_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(class_ids[:, None])

    def config(self) -> dict[str, Any]:
        return {"_class_name": "ClassEmbedder", "n_classes": self.n_classes, "embed_dim": self.embed_dim}


class SpatialRescaler(nn.Module):
    """One-hot map (B, C_in, H, W) → (B, C_out, H/2^n, W/2^n): interpolate n times, then a 1×1 conv.

    Interpolation is `F.interpolate(scale_factor=multiplier, mode=method)` with torch's
    defaults (align_corners False for bilinear, no antialias), as in the original.
    """

    def __init__(
        self,
        n_stages: int = 1,
        method: str = "bilinear",
        multiplier: float = 0.5,
        in_channels: int = 3,
        out_channels: int | None = None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if method not in INTERPOLATION_MODES:
            raise ValueError(f"interpolation method {method!r} is not one of {INTERPOLATION_MODES}")
        self.n_stages = n_stages
        self.method = method
        self.multiplier = multiplier
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.bias = bias
        self.channel_mapper = nn.Conv2d(in_channels, out_channels, 1, bias=bias) if out_channels is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.n_stages):
            x = F.interpolate(x, scale_factor=self.multiplier, mode=self.method)
        if self.channel_mapper is not None:
            x = self.channel_mapper(x)
        return x

    @property
    def output_channels(self) -> int:
        return self.out_channels if self.out_channels is not None else self.in_channels

    def config(self) -> dict[str, Any]:
        return {
            "_class_name": "SpatialRescaler",
            "n_stages": self.n_stages,
            "method": self.method,
            "multiplier": self.multiplier,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "bias": self.bias,
        }


COND_STAGE_CLASSES: dict[str, type[ClassEmbedder] | type[SpatialRescaler]] = {
    "ClassEmbedder": ClassEmbedder,
    "SpatialRescaler": SpatialRescaler,
}


def save_cond_stage(module: ClassEmbedder | SpatialRescaler, folder: Path) -> Path:
    """Write `config.json` and `model.safetensors` for a conditioning encoder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(module.config(), indent=2) + "\n", encoding="utf-8")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    return folder


@overload
def load_cond_stage(folder: Path, expected: Literal["ClassEmbedder"]) -> ClassEmbedder: ...
@overload
def load_cond_stage(folder: Path, expected: Literal["SpatialRescaler"]) -> SpatialRescaler: ...
@overload
def load_cond_stage(folder: Path, expected: str | None = None) -> ClassEmbedder | SpatialRescaler: ...


def load_cond_stage(folder: Path, expected: str | None = None) -> ClassEmbedder | SpatialRescaler:
    """Read a `cond_stage/` folder; ModelFolderError naming the file for anything missing or wrong."""
    from ldm_studio.core.models.model_folder import read_json

    config = read_json(folder / CONFIG_FILE)
    name = config.pop("_class_name", None)
    cls = COND_STAGE_CLASSES.get(name)
    if cls is None or (expected is not None and name != expected):
        want = expected or " or ".join(COND_STAGE_CLASSES)
        raise ModelFolderError(folder / CONFIG_FILE, f"conditioning encoder {name!r} is not a {want}")
    try:
        module = cls(**config)
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(folder / CONFIG_FILE, f"bad {name} settings: {exc}") from None
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFolderError(weights, "file is missing")
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFolderError(weights, f"cannot be read as safetensors ({exc})") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFolderError(weights, f"does not fit the {name} in config.json ({exc})") from None
    return module.eval().requires_grad_(False)
