"""Writing finished images: atomic PNG writes (temp file + rename) with the recipe inside.

A crash or a kill never leaves a half-written PNG under its final name.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

RECIPE_KEY = "ldm_studio"


def write_png_atomic(path: Path, image: np.ndarray, text: Mapping[str, str] | None = None) -> Path:
    """Write `image` (H, W, 3) uint8 as a PNG with text chunks; the file appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(key, value)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".png.part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            Image.fromarray(image).save(handle, format="PNG", pnginfo=info)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def recipe_text(recipe: Mapping[str, Any]) -> dict[str, str]:
    """The PNG text chunks for a recipe."""
    return {RECIPE_KEY: json.dumps(recipe, sort_keys=True)}
