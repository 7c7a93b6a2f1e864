"""The window's settings as one JSON file under the user config folder.

JSON rather than QSettings' INI so a damaged file is detected for certain: it is set aside
(renamed, not deleted) and the app starts from defaults with a message saying so.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray

from ldm_studio.core.errors import FileFormatError
from ldm_studio.core.files.store import user_config_dir
from ldm_studio.core.files.untrusted import MIB, read_json_bounded

SETTINGS_FILE = "settings.json"
MAX_SETTINGS_BYTES = 2 * MIB  # window geometry, a few prompts and paths: kilobytes


def settings_path() -> Path:
    return user_config_dir() / SETTINGS_FILE


class SettingsStore:
    """Load once at start, save on close; `problem` says why defaults were used, if they were."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings_path()
        self.values: dict[str, Any] = {}
        self.problem: str | None = None

    def load(self) -> dict[str, Any]:
        self.values, self.problem = {}, None
        if not self.path.exists():
            return self.values
        try:
            # bounded, and every way the bytes can be wrong is one FileFormatError (not UTF-8, too deep, ...)
            data = read_json_bounded(self.path, MAX_SETTINGS_BYTES, "settings file")
            if not isinstance(data, dict):
                raise FileFormatError(self.path, "does not hold a JSON object")
        except FileFormatError as exc:
            if isinstance(exc.problem, str) and exc.problem.startswith("cannot be read"):
                self.problem = f"Settings file {exc}; using defaults."
                return self.values
            kept = self._set_aside()
            self.problem = (
                f"Settings file {self.path} is damaged ({exc.problem}); using defaults. The old file is {kept}."
            )
            return self.values
        self.values = data
        return self.values

    def get(self, key: str, default: Any = None, kind: type | tuple[type, ...] | None = None) -> Any:
        """A value, or `default` when missing or of the wrong type (a hand-edited file)."""
        value = self.values.get(key, default)
        if kind is not None and not isinstance(value, kind):
            return default
        return value

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value

    def get_bytes(self, key: str) -> QByteArray | None:
        value = self.values.get(key)
        if not isinstance(value, str):
            return None
        try:
            return QByteArray(base64.b64decode(value, validate=True))
        except ValueError:
            return None

    def set_bytes(self, key: str, value: QByteArray) -> None:
        self.values[key] = base64.b64encode(bytes(value.data())).decode("ascii")

    def save(self) -> None:
        """Atomic write, so a crash while saving leaves the previous settings intact."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json.part", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.values, handle, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _set_aside(self) -> Path:
        target = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, target)
        except OSError:
            return self.path
        return target
