"""A short content hash of a model's weights, for recipes (A1111's "Model hash" slot).

Hashing gigabytes takes seconds, so the result is cached per folder in the user cache,
keyed by every weight file's path, size and modification time: a changed file is rehashed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ldm_studio.core.files.store import user_cache_dir

WEIGHT_SUFFIXES = {".safetensors", ".bin", ".ckpt", ".pt", ".pth"}
SHORT = 10
# derived from the model, not part of it: the preview decoder `fit-preview` caches (core.approx_decoder.DECODER_FILE)
DERIVED_FILES = {"preview_decoder.safetensors"}


def weight_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES and p.relative_to(folder).as_posix() not in DERIVED_FILES
    )


def model_hash(folder: str | Path) -> str:
    """The first 10 hex digits of a SHA-256 over the folder's weight files (names and bytes)."""
    root = Path(folder).resolve()
    files = weight_files(root)
    stamp = [[str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    key = hashlib.sha256(json.dumps([str(root), stamp]).encode()).hexdigest()[:24]
    cache = user_cache_dir() / "model-hashes" / f"{key}.txt"
    try:
        return cache.read_text(encoding="utf-8").strip()
    except OSError:
        pass
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    short = digest.hexdigest()[:SHORT]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(short + "\n", encoding="utf-8")
    except OSError:
        pass  # an unwritable cache only costs a rehash next time
    return short
