"""Writing a finished job's images to the history folder, each with its recipe.

Runs in the engine thread before the GUI hears of the result, so nothing shown is ever
unsaved.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ldm_studio.core.files.outputs import history_name, save_images
from ldm_studio.core.files.store import history_dir
from ldm_studio.core.generation.requests import GenerationRequest
from ldm_studio.core.models.model_folder import ModelInfo


def save_results(
    images: np.ndarray,
    request: GenerationRequest,
    info: ModelInfo,
    device: str,
    job: int,
    folder: Path | None = None,
    extra_recipe: dict | None = None,
) -> list[Path]:
    """Write every image of a batch atomically with its recipe; return the paths in batch order."""
    now = time.time()
    return save_images(
        images,
        request,
        info,
        folder or history_dir(),
        device=device,
        name=lambda req, index: history_name(req.settings.seed + index, now, job),
        extra_recipe=extra_recipe,
    )
