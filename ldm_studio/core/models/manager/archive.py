"""Unpacking downloaded zip archives safely, and finding the checkpoint and config inside."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from ldm_studio.core.errors import DownloadError
from ldm_studio.core.models.manager.network import ensure_free_space
from ldm_studio.core.models.manager.progress import ProgressTracker


def unpack_zip(archive: Path, into: Path, tracker: ProgressTracker) -> None:
    """Extract `archive` into `into`; refuses members that would land outside it (zip-slip)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            total = sum(m.file_size for m in members)
            ensure_free_space(into, total, archive.name)
            tracker.start("unpacking", archive.name, total=total)
            for member in members:
                rel = PurePosixPath(member.filename)
                if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                    raise DownloadError(f"{archive}: unsafe member name {member.filename!r}")
                target = into.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, target.open("wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
                        tracker.add(len(block))
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive}: not a valid zip archive ({exc})") from None


def find_member(folder: Path, name: str, suffixes: tuple[str, ...]) -> Path:
    """`folder/name`, or the single file named `name` (else with one of `suffixes`) below it."""
    direct = folder / name
    if direct.is_file():
        return direct
    matches = sorted(p for p in folder.rglob(name) if p.is_file())
    if not matches:
        matches = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if len(matches) != 1:
        found = ", ".join(str(p.relative_to(folder)) for p in matches) or "nothing"
        raise DownloadError(f"{folder}: expected one {name} in the download, found {found}")
    return matches[0]
