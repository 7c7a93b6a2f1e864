"""Where the shipped demo model lives: the offline default when no other model is chosen.

The folder is package data (`resources/demo_model/`, written by
`ldm-studio train-demo`), found through `ldm_studio.resources_path` so it works from a source
checkout, a wheel and a frozen app alike.
"""

from __future__ import annotations

from pathlib import Path

from ldm_studio.resources_path import resource_path

DEMO_MODEL_FOLDER = "demo_model"


def demo_model_path() -> Path | None:
    """The shipped demo model folder, or None when this install has none (e.g. a slim build)."""
    try:
        folder = resource_path(DEMO_MODEL_FOLDER)
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    path = Path(str(folder))
    if not (path / "ldm_studio.json").is_file():
        return None
    return path
