"""Convert a `.ckpt` + `.yaml` pair once into the model store and reuse it afterwards.

The store folder is keyed by the checkpoint's and config's SHA-256, so the same pair is
converted once, a changed file is converted again, and two checkpoints with the same name
never collide. The GUI and `generate --model x.ckpt --config x.yaml` both call this.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ldm_studio.core.errors import ConversionError
from ldm_studio.core.files.store import models_dir
from ldm_studio.core.models.convert.converter import ProgressFn, convert_checkpoint, file_sha256
from ldm_studio.core.models.model_folder import INFO_FILE, read_json


def store_folder_for(checkpoint: Path, config: Path, checkpoint_sha: str, config_sha: str) -> Path:
    """Where the conversion of this exact pair lives in the store."""
    stem = checkpoint.parent.name if checkpoint.stem in ("model", "last") else checkpoint.stem
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "model"
    key = hashlib.sha256(f"{checkpoint_sha}:{config_sha}".encode()).hexdigest()[:12]
    return models_dir() / f"{safe}-{key}"


def convert_into_store(
    checkpoint: str | Path,
    config: str | Path,
    *,
    tokenizer: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """The store's model folder for this pair, converting it first if it is not there yet."""
    report = progress or (lambda _msg, _frac: None)
    ckpt, conf = Path(checkpoint).expanduser(), Path(config).expanduser()
    for path in (ckpt, conf):
        if not path.is_file():
            raise ConversionError(path, "no such file")
    report("hashing checkpoint", 0.0)
    ckpt_sha, conf_sha = file_sha256(ckpt), file_sha256(conf)
    folder = store_folder_for(ckpt, conf, ckpt_sha, conf_sha)
    if _is_complete(folder, ckpt_sha):
        report("already converted", 1.0)
        return folder

    def scaled(message: str, fraction: float) -> None:
        report(message, 0.05 + 0.95 * fraction)

    hashes = {"checkpoint": ckpt_sha, "config": conf_sha}
    convert_checkpoint(conf, ckpt, folder, tokenizer=tokenizer, progress=scaled, overwrite=True, sha256=hashes)
    return folder


def _is_complete(folder: Path, checkpoint_sha: str) -> bool:
    if not (folder / INFO_FILE).is_file():
        return False
    try:
        provenance = read_json(folder / INFO_FILE).get("provenance") or {}
    except Exception:
        return False
    return provenance.get("checkpoint_sha256") == checkpoint_sha
