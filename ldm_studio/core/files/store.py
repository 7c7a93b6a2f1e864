"""Where LDM Studio keeps files: models, history, settings, caches (platformdirs).

Each location can be moved by an environment variable, which the tests and portable
installs use: LDM_STUDIO_HOME moves all of them; LDM_STUDIO_HISTORY moves the history alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "ldm-studio"


def _home() -> Path | None:
    value = os.environ.get("LDM_STUDIO_HOME")
    return Path(value).expanduser() if value else None


def user_data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP, appauthor=False))


def user_cache_dir() -> Path:
    home = _home()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(APP, appauthor=False))


def user_config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP, appauthor=False))


def user_log_dir() -> Path:
    home = _home()
    return home / "logs" if home else Path(platformdirs.user_log_dir(APP, appauthor=False))


def models_dir() -> Path:
    """Model folders that LDM Studio converted or imported."""
    return user_data_dir() / "models"


def history_dir() -> Path:
    """Every finished image, written before the window shows it."""
    value = os.environ.get("LDM_STUDIO_HISTORY")
    return Path(value).expanduser() if value else user_data_dir() / "history"
