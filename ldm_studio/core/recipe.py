"""The recipe of an image: everything needed to make it again, as plain JSON."""

from __future__ import annotations

import platform
from dataclasses import asdict
from typing import Any

import diffusers
import torch

from ldm_studio import __version__
from ldm_studio.core.model_folder import ModelInfo
from ldm_studio.core.requests import (
    ClassCondition,
    GenerationRequest,
    SemanticMapCondition,
    TextCondition,
)


def request_recipe(request: GenerationRequest, info: ModelInfo, index: int, device: str) -> dict[str, Any]:
    """The recipe of image `index` of `request` (its own seed is `seed + index`)."""
    condition = request.condition
    cond: dict[str, Any] = {"kind": type(condition).__name__}
    if isinstance(condition, TextCondition):
        cond.update(prompt=condition.prompt, negative=condition.negative)
    elif isinstance(condition, ClassCondition):
        cond.update(class_ids=list(condition.class_ids))
    elif isinstance(condition, SemanticMapCondition):
        cond.update(label_set=condition.label_set, shape=list(condition.label_map.shape))
    return {
        "version": 1,
        "model": {"name": info.name, "family": info.family, "path": str(info.path)},
        "condition": cond,
        "settings": asdict(request.settings),
        "batch_index": index,
        "image_seed": request.settings.seed + index,
        "device": device,
        "versions": {
            "ldm_studio": __version__,
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "python": platform.python_version(),
        },
    }
