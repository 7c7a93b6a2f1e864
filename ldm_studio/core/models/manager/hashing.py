"""SHA-256 of files and folders, reporting bytes to a tracker so long hashes show progress and cancel."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ldm_studio.core.models.manager.progress import ProgressTracker

CHUNK = 1 << 20


def file_digests(path: Path, tracker: ProgressTracker | None = None, git_sha1: bool = False) -> tuple[str, str | None]:
    """(sha256, git blob sha1 or None). The git hash is what the Hub lists as `oid` of a non-LFS file."""
    sha = hashlib.sha256()
    git = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False) if git_sha1 else None
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            sha.update(block)
            if git is not None:
                git.update(block)
            if tracker is not None:
                tracker.add(len(block))
    return sha.hexdigest(), git.hexdigest() if git is not None else None


def model_files(folder: Path) -> list[Path]:
    """Every file of a model folder (following the hub cache's symlinks), in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def folder_sha256(folder: Path, tracker: ProgressTracker | None = None) -> dict[str, str]:
    """Relative path -> sha256 of every file in `folder`."""
    files = model_files(folder)
    if tracker is not None:
        tracker.start("verifying", f"hashing {len(files)} files", total=sum(p.stat().st_size for p in files))
    out: dict[str, str] = {}
    for path in files:
        rel = path.relative_to(folder).as_posix()
        if tracker is not None:
            tracker.note(f"hashing {rel}")
        out[rel] = file_digests(path, tracker)[0]
    return out
