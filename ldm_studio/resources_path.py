"""Where the shipped assets are: the one lookup for label sets, the catalogue, icons and the demo model.

They live in the repository's top-level `resources/`. The build installs them as `ldm_studio/resources/`
(pyproject `package-dir`, `setup.py`), so a wheel and the PyInstaller bundle carry them inside the package,
while a source checkout or an editable install reads the repository's folder itself.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resources_dir() -> Path:
    """The installed `ldm_studio/resources/` when there is one (wheel, bundle), else the checkout's `resources/`."""
    installed = Path(str(resources.files("ldm_studio"))) / "resources"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """`resources/<parts...>` wherever this install keeps it (the path may not exist: callers check)."""
    return resources_dir().joinpath(*parts)
