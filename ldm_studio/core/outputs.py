"""Writing finished images: atomic PNG writes (temp file + rename) with the recipe inside.

A crash or a kill never leaves a half-written PNG under its final name. The CLI, the batch
runner and the window's worker all save through `save_images`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from ldm_studio.core.model_folder import ModelInfo
from ldm_studio.core.model_hash import model_hash
from ldm_studio.core.recipe import build_recipe, recipe_chunks
from ldm_studio.core.requests import GenerationRequest

PART_SUFFIX = ".png.part"


def write_png_atomic(path: Path, image: np.ndarray, text: Mapping[str, str] | None = None) -> Path:
    """Write `image` (H, W, 3) uint8 as a PNG with text chunks; the file appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)  # tEXt, or iTXt when the text is not Latin-1
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=PART_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            Image.fromarray(image).save(handle, format="PNG", pnginfo=info)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, new_file_mode())  # mkstemp makes it 0600; an image is as readable as any new file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@cache
def new_file_mode() -> int:
    """The mode `open()` gives a new file here: 0666 less the umask (0644 with the usual 022)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def remove_partial_files(folder: Path) -> int:
    """Delete temp files a killed writer left behind; returns how many."""
    count = 0
    for leftover in folder.glob(f".*{PART_SUFFIX}"):
        leftover.unlink(missing_ok=True)
        count += 1
    return count


def default_name(request: GenerationRequest, index: int) -> str:
    """`YYYYmmdd-HHMMSS-<seed>.png`: sortable by time, the image's seed visible."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{request.settings.seed + index}.png"


def save_images(
    images: np.ndarray,
    request: GenerationRequest,
    info: ModelInfo,
    folder: Path,
    *,
    device: str,
    name: Callable[[GenerationRequest, int], str] = default_name,
) -> list[Path]:
    """Write every image of a finished request with its recipe; returns the paths in order."""
    digest = model_hash(info.path)
    paths = []
    for index, image in enumerate(images):
        recipe = build_recipe(request, info, index, model_hash=digest, device=device)
        target = free_path(folder / name(request, index))
        paths.append(write_png_atomic(target, image, recipe_chunks(recipe)))
    return paths


def free_path(path: Path) -> Path:
    """`path`, or `stem-1.png`, `stem-2.png`, ... if taken (two jobs in the same second, same seed)."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate
