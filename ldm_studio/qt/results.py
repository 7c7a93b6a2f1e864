"""Writing a finished job's images to the history folder, each with its recipe.

Runs in the engine thread before the GUI hears of the result, so nothing shown is ever
unsaved.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ldm_studio.core.model_folder import ModelInfo
from ldm_studio.core.outputs import save_images
from ldm_studio.core.requests import GenerationRequest
from ldm_studio.core.store import history_dir


def history_name(job: int, seed: int, when: float | None = None) -> str:
    """Time-ordered, unique per job and image: `YYYYmmdd-HHMMSS-mmm-jJOB-SEED.png`."""
    now = time.time() if when is None else when
    millis = int((now % 1) * 1000)
    return f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{millis:03d}-j{job}-{seed}.png"


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
        name=lambda req, index: history_name(job, req.settings.seed + index, now),
        extra_recipe=extra_recipe,
    )
