"""Writing finished images: atomic PNG writes (temp file + rename) with the recipe inside.

A crash or a kill never leaves a half-written PNG under its final name. The CLI, the batch
runner and the window's worker all save through `save_images`.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.files.recipe import build_recipe, recipe_chunks
from ldm_studio.core.generation.requests import GenerationRequest
from ldm_studio.core.models.model_folder import ModelInfo
from ldm_studio.core.models.model_hash import model_hash

PART_SUFFIX = ".png.part"
_UMASK: int | None = None


class OutputFolderError(LdmStudioError):
    """The output folder cannot be created or written; `path` names it. Raised before any sampling."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def file_mode() -> int:
    """The mode a plain `open()` would give a new file (0o666 less the umask); mkstemp's 0o600 is not it."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return 0o666 & ~_UMASK


def check_output_folder(folder: Path) -> Path:
    """Create `folder` if needed and prove it writable with a probe file; OutputFolderError otherwise.

    Run before sampling, so a wrong `--out` costs nothing; the images of a long run are never the
    first thing to find out that the folder is a file, read-only, or under a file.
    """
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(folder, "is a file, not a folder (give a folder for the images)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".ldm-studio-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputFolderError(folder, f"cannot write images there ({exc.strerror or exc})") from None
    return folder


def _write_temp(folder: Path, stem: str, image: np.ndarray, text: Mapping[str, str] | None) -> Path:
    """The PNG, complete and synced, under a hidden temp name in `folder` (same file system: renames are atomic)."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)  # tEXt, or iTXt when the text is not Latin-1
    fd, tmp = tempfile.mkstemp(prefix=f".{stem[:64]}-", suffix=PART_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            Image.fromarray(image).save(handle, format="PNG", pnginfo=info)
            handle.flush()
            if hasattr(os, "fchmod"):  # not on Windows, where modes do not apply
                os.fchmod(handle.fileno(), file_mode())
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_png_atomic(path: Path, image: np.ndarray, text: Mapping[str, str] | None = None) -> Path:
    """Write `image` (H, W, 3) uint8 as a PNG with text chunks; the file appears whole or not at all.

    Replaces `path` if it exists (for names planned once, like a batch's); `write_png_new` never does.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path.parent, path.stem, image, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_png_new(path: Path, image: np.ndarray, text: Mapping[str, str] | None = None, *, rename: bool = True) -> Path:
    """Write a PNG under `path`, or `stem-1.png`, `stem-2.png`, ... when taken; never over an existing file.

    The complete temp file is hard-linked to the name, which fails if the name exists, so two
    processes writing the same seed to the same folder at the same second both keep their image.
    Where hard links are not supported, an exclusive create claims the name first. With
    `rename=False` a taken name raises FileExistsError instead.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path.parent, path.stem, image, text)
    try:
        candidate, n = path, 1
        while True:
            try:
                _claim(tmp, candidate)
                return candidate
            except FileExistsError:
                if not rename:
                    raise
                candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
                n += 1
    finally:
        tmp.unlink(missing_ok=True)


def _claim(tmp: Path, target: Path) -> None:
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, file_mode())  # FileExistsError when taken
        os.close(fd)
        os.replace(tmp, target)


_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.EACCES}


def remove_partial_files(folder: Path) -> int:
    """Delete temp files a killed writer left behind; returns how many."""
    count = 0
    for leftover in folder.glob(f".*{PART_SUFFIX}"):
        leftover.unlink(missing_ok=True)
        count += 1
    return count


def history_name(seed: int, when: float | None = None, job: int | None = None) -> str:
    """The one naming scheme of the history folder (CLI and window alike).

    `YYYYmmdd-HHMMSS-mmm-SEED.png`, with `-jJOB` before the seed for a window job: sortable by
    time, the image's own seed visible; `free_path` settles the rare clash.
    """
    now = time.time() if when is None else when
    millis = int((now % 1) * 1000)
    tag = f"-j{job}" if job is not None else ""
    return f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{millis:03d}{tag}-{seed}.png"


def default_name(request: GenerationRequest, index: int) -> str:
    """A history name for image `index` of `request` (the image's seed is seed + index)."""
    return history_name(request.settings.seed + index)


def save_images(
    images: np.ndarray,
    request: GenerationRequest,
    info: ModelInfo,
    folder: Path,
    *,
    device: str,
    name: Callable[[GenerationRequest, int], str] = default_name,
    extra_recipe: Mapping[str, object] | None = None,
    fallback: Path | None = None,
    on_fallback: Callable[[Path, OSError], None] | None = None,
) -> list[Path]:
    """Write every image of a finished request with its recipe; returns the paths in order.

    `extra_recipe` entries are added to every image's recipe (a branch's `branch` entry).
    Never overwrites (`write_png_new`). When writing into `folder` fails (full, gone read-only,
    removed) and a `fallback` folder is given, the rest go there and `on_fallback` hears why:
    sampled images are never lost to a folder problem.
    """
    digest = model_hash(info.path)
    paths = []
    for index, image in enumerate(images):
        recipe = build_recipe(request, info, index, model_hash=digest, device=device)
        recipe.update(extra_recipe or {})
        chunks = recipe_chunks(recipe)
        try:
            paths.append(write_png_new(folder / name(request, index), image, chunks))
        except OSError as exc:
            if fallback is None or Path(fallback) == Path(folder):
                raise
            folder = Path(fallback)
            if on_fallback is not None:
                on_fallback(folder, exc)
            paths.append(write_png_new(folder / name(request, index), image, chunks))
    return paths


def free_path(path: Path) -> Path:
    """`path`, or `stem-1.png`, `stem-2.png`, ... if taken now (a hint only: `write_png_new` claims atomically)."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate
