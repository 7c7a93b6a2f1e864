"""The store's index of installed models: `<models dir>/index.json`.

Why an index: a hub download stays in the shared Hugging Face cache (so other tools reuse it and
no gigabytes are copied), so the store needs a pointer to it; and `verify` needs the SHA-256 of
every file as it was at install time. The index is rewritten atomically (temp file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ldm_studio.core.errors import FileFormatError
from ldm_studio.core.files.file_lock import file_lock
from ldm_studio.core.files.store import models_dir

INDEX_FILE = "index.json"
KINDS = ("store", "hub", "external")  # store: a folder we own; hub: a hub-cache snapshot; external: imported in place
_lock = threading.Lock()


@dataclass(frozen=True)
class InstalledModel:
    """One index entry: a usable model folder and how it got there."""

    name: str
    kind: str
    path: str
    family: str | None = None
    catalogue: str | None = None  # catalogue entry it came from, if any
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None
    source: str | None = None  # URL or imported path
    license: str | None = None
    installed_at: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    role: str = "model"  # "model", or "controlnet": a ControlNet attached to models of `family`

    @property
    def folder(self) -> Path:
        return Path(self.path)


def index_path() -> Path:
    return models_dir() / INDEX_FILE


def read_index() -> dict[str, InstalledModel]:
    """The index by name (empty when there is none yet)."""
    path = index_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: InstalledModel(**{**item, "name": name}) for name, item in data.get("models", {}).items()}
    except (OSError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise FileFormatError(path, f"the model index is unreadable ({exc}); move it away to start a new one") from None


def add_entry(model: InstalledModel) -> InstalledModel:
    """Add or replace the entry `model.name`."""
    with _lock, file_lock(_lock_path()):  # the thread lock for this process, the file lock for the others
        entries = read_index()
        stamped = model if model.installed_at else InstalledModel(**{**asdict(model), "installed_at": time.time()})
        entries[model.name] = stamped
        _write(entries)
    return stamped


def remove_entry(name: str) -> InstalledModel | None:
    with _lock, file_lock(_lock_path()):
        entries = read_index()
        removed = entries.pop(name, None)
        if removed is not None:
            _write(entries)
    return removed


def _lock_path() -> Path:
    return index_path().with_name(f".{INDEX_FILE}.lock")


def _write(entries: dict[str, InstalledModel]) -> None:
    path = index_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "format": 1,
        "models": {name: {k: v for k, v in asdict(m).items() if k != "name"} for name, m in sorted(entries.items())},
    }
    fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
