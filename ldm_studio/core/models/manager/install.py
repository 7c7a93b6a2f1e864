"""Installing models into the store: from the catalogue (hub or original download) or from disk.

The store never holds half a model: a model is built in a hidden staging folder inside the models
folder (same file system, so the final step is one rename) and registered in the index last.
Cancel or failure removes the staging folder; only a resumable `.part` download may remain, in
the downloads cache, which is what lets the next attempt resume.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from ldm_studio.core.errors import DownloadError, FileFormatError, LdmStudioError, ModelFolderError
from ldm_studio.core.files.file_lock import file_lock
from ldm_studio.core.files.store import models_dir, user_cache_dir
from ldm_studio.core.models.catalogue import CatalogueEntry, get_entry
from ldm_studio.core.models.controlnets import ROLE, is_controlnet_folder, read_controlnet
from ldm_studio.core.models.manager.archive import find_member, unpack_zip
from ldm_studio.core.models.manager.hashing import folder_sha256
from ldm_studio.core.models.manager.https import download_file
from ldm_studio.core.models.manager.hub import HubSnapshot, download_snapshot, hub_cache_models
from ldm_studio.core.models.manager.network import hub_endpoint, offline_mode
from ldm_studio.core.models.manager.progress import ProgressFn, ProgressTracker
from ldm_studio.core.models.manager.registry import InstalledModel, add_entry, read_index
from ldm_studio.core.models.manager.validate import require_valid
from ldm_studio.core.models.model_folder import INFO_FILE, read_json

CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth", ".safetensors")
CONFIG_SUFFIXES = (".yaml", ".yml")


def downloads_dir(name: str) -> Path:
    """Where a catalogue model's files (and their resumable `.part`s) wait until it is installed."""
    return user_cache_dir() / "downloads" / name


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"


def download(
    name: str,
    *,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    endpoint: str | None = None,
    catalogue: dict[str, CatalogueEntry] | None = None,
    hub_cache: Path | None = None,
    device: str | None = None,
) -> InstalledModel:
    """Download, check and install the catalogue model `name`; returns its index entry.

    `device` is where the model will run ("cuda", "mps", "cpu"; default: the best available): on a
    GPU a hub repo's fp16 variant is fetched where it has one.

    Raises OfflineError, DiskSpaceError, ChecksumError, DownloadError, DownloadCancelled,
    ConversionError; none of them leaves a model in the store.
    """
    entry = get_entry(name, catalogue)
    tracker = ProgressTracker(progress, cancel)
    existing = read_index().get(entry.name)
    if existing is not None and existing.folder.is_dir():
        tracker.finish(f"{entry.name} is already installed")
        return existing
    if entry.source_type == "original" and (models_dir() / entry.name).exists():
        raise DownloadError(f"{models_dir() / entry.name}: already exists but is not registered; move it away first")
    if entry.source_type == "hub":
        model = _install_hub(entry, tracker, endpoint, hub_cache, _hub_variant(device))
    else:
        model = _install_original(entry, tracker)
    tracker.finish(f"installed {entry.name}")
    return model


def _hub_variant(device: str | None) -> str | None:
    """The variant for the device the model will run on (one named need not be here: a download may be for later)."""
    import torch

    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.models.manager.hub import variant_for_device

    if device in (None, "", "auto"):
        return variant_for_device(choose_device().device.type)
    try:
        return variant_for_device(torch.device(device).type)
    except RuntimeError as exc:
        raise LdmStudioError(f"--device: {device!r} is not a device ({exc})") from None


def _install_hub(
    entry: CatalogueEntry,
    tracker: ProgressTracker,
    endpoint: str | None,
    hub_cache: Path | None,
    variant: str | None = None,
) -> InstalledModel:
    assert entry.repo_id is not None
    component = entry.kind in ("component", ROLE)  # one diffusers model (config.json + weights), not a pipeline
    cached = hub_cache_models(hub_cache).get(entry.repo_id) if offline_mode() and not component else None
    if cached is not None:  # offline, but another tool downloaded it: register what is there
        snap = HubSnapshot(entry.repo_id, entry.revision, cached.name, cached, folder_sha256(cached, tracker))
    else:
        snap = download_snapshot(
            entry.repo_id,
            tracker,
            revision=entry.revision,
            endpoint=endpoint,
            cache_dir=hub_cache,
            variant=variant,
            component=component,
        )
    tracker.start("installing", entry.name)
    if entry.kind == ROLE:  # a ControlNet: one diffusers model, attached to a base model per request
        control = read_controlnet(snap.folder)
        _check_family(entry, control.family, snap.folder)
        return _register_hub(entry, snap, endpoint, control.family, role=ROLE)
    if component:
        return _register_component(entry, snap, endpoint)
    # No shape check: the official repos may store legacy names that diffusers renames on load.
    info = require_valid(snap.folder, shapes=False)
    _check_family(entry, info.family, snap.folder)
    return _register_hub(entry, snap, endpoint, info.family)


def _register_component(entry: CatalogueEntry, snap: HubSnapshot, endpoint: str | None) -> InstalledModel:
    """A component's snapshot, checked for its role and registered (its family is the base models')."""
    from ldm_studio.core.models.components import check_component_folder

    assert entry.role is not None
    problems = check_component_folder(snap.folder, entry.role)
    if problems:
        raise ModelFolderError(snap.folder, "; ".join(problems))
    return _register_hub(entry, snap, endpoint, entry.family)


def _register_hub(
    entry: CatalogueEntry, snap: HubSnapshot, endpoint: str | None, family: str | None, role: str = "model"
) -> InstalledModel:
    """Add a checked hub snapshot of a catalogue entry (a model, a component or a ControlNet) to the index."""
    return add_entry(
        InstalledModel(
            name=entry.name,
            kind="hub",
            path=str(snap.folder),
            family=family,
            catalogue=entry.name,
            repo_id=entry.repo_id,
            revision=entry.revision,
            commit=snap.commit,
            source=f"{hub_endpoint(endpoint)}/{entry.repo_id}",
            license=entry.license,
            files=snap.files,
            role=role,
        )
    )


def _install_original(entry: CatalogueEntry, tracker: ProgressTracker) -> InstalledModel:
    folder = downloads_dir(entry.name)
    fetched = {}
    for remote in entry.downloads:
        fetched[remote.save_as] = download_file(
            remote.url, folder / remote.save_as, tracker, sha256=remote.sha256, size_bytes=remote.size_bytes
        )
    with _staging(entry.name) as staging:
        unpacked = staging / "unpacked"
        for remote in entry.downloads:
            if remote.unpack == "zip":
                unpack_zip(fetched[remote.save_as], unpacked, tracker)
        ckpt_name, config_name = entry.checkpoint, entry.config
        assert ckpt_name is not None and config_name is not None  # the catalogue requires both for an original
        checkpoint = fetched.get(ckpt_name) or find_member(unpacked, ckpt_name, CHECKPOINT_SUFFIXES)
        config = fetched.get(config_name) or find_member(unpacked, config_name, CONFIG_SUFFIXES)
        out = staging / entry.name
        tokenizer = fetched.get(entry.tokenizer) if entry.tokenizer else None
        _convert(checkpoint, config, out, entry.title, tracker, tokenizer)
        _stamp(
            out,
            entry.license,
            {"catalogue": entry.name, "source_urls": [r.url for r in entry.downloads]},
            entry.defaults,
        )
        info = require_valid(out, shapes=False)
        _check_family(entry, info.family, out)
        shutil.rmtree(unpacked, ignore_errors=True)
        model = _commit(
            staging,
            out,
            InstalledModel(
                name=entry.name,
                kind="store",
                path="",
                family=info.family,
                catalogue=entry.name,
                source=entry.downloads[0].url,
                license=entry.license,
            ),
            tracker,
        )
    shutil.rmtree(folder, ignore_errors=True)  # the archive is no longer needed
    return model


def import_model(
    path: str | Path,
    *,
    config: str | Path | None = None,
    name: str | None = None,
    tokenizer: str | Path | None = None,
    in_place: bool = False,
    architecture: str | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    component: str | None = None,
) -> InstalledModel:
    """Install a model from disk: a model folder (LDM Studio or diffusers), a `.ckpt`/`.safetensors`
    original checkpoint with its `.yaml` config (converted), or a Stable Diffusion single file (no
    config: its architecture is detected from its keys, or given). `in_place` registers a folder without copying.
    `component` names the catalogue component a folder is (a TAESD or VAE fetched by hand)."""
    source = Path(path).expanduser()
    tracker = ProgressTracker(progress, cancel, what="import")
    if component is not None:
        return _import_component(source, component, name, in_place, tracker)
    if source.is_dir() and is_controlnet_folder(source):
        return _import_controlnet(source, name, in_place, tracker)
    if source.is_dir():
        tracker.start("verifying", f"checking {source.name}")
        info = require_valid(source)
        model_name = safe_name(name or (info.name if info.origin == "ldm_studio" else source.name))
        _refuse_taken(model_name)
        base = InstalledModel(model_name, "store", "", info.family, source=str(source.resolve()), license=info.license)
        model = _add_folder(source, base, in_place, tracker)
        tracker.finish(f"imported {model.name}")
        return model
    if not source.is_file():
        raise FileFormatError(source, "no such file or folder")
    if source.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise FileFormatError(
            source, "cannot import this: give a model folder, a .ckpt or a .safetensors file (with --config)"
        )
    config_path = Path(config).expanduser() if config else _sibling_config(source)
    if config_path is not None and config_path.is_dir():  # a diffusers config folder for a single file
        return _import_single_file(source, name, architecture, tracker, config_path)
    if config_path is None and (architecture or _is_stable_diffusion(source)):
        return _import_single_file(source, name, architecture, tracker)
    if config_path is None:
        raise FileFormatError(source, "an original checkpoint needs its config: pass --config FILE.yaml")
    if not config_path.is_file():
        raise FileFormatError(config_path, "no such config file")
    model_name = safe_name(name or (source.parent.name if source.stem in ("model", "last") else source.stem))
    _refuse_taken(model_name)
    with _staging(model_name) as staging:
        out = staging / model_name
        _convert(source, config_path, out, name or model_name, tracker, tokenizer)
        info = require_valid(out, shapes=False)
        base = InstalledModel(model_name, "store", "", info.family, source=str(source.resolve()))
        model = _commit(staging, out, base, tracker)
    tracker.finish(f"imported {model.name}")
    return model


def _add_folder(source: Path, base: InstalledModel, in_place: bool, tracker: ProgressTracker) -> InstalledModel:
    """A checked folder (a model, a ControlNet, a component) registered where it is, or copied into the store."""
    if in_place:
        files = folder_sha256(source, tracker)
        return add_entry(replace(base, kind="external", path=str(source.resolve()), files=files))
    with _staging(base.name) as staging:
        out = staging / base.name
        _copy_tree(source, out, tracker)
        return _commit(staging, out, base, tracker)


def _import_controlnet(source: Path, name: str | None, in_place: bool, tracker: ProgressTracker) -> InstalledModel:
    """A diffusers ControlNet folder into the store (copied, or registered where it is)."""
    tracker.start("verifying", f"checking {source.name}")
    control = read_controlnet(source)
    model_name = safe_name(name or source.name)
    _refuse_taken(model_name)
    base = InstalledModel(model_name, "store", "", control.family, source=str(source.resolve()), role=ROLE)
    model = _add_folder(source, base, in_place, tracker)
    tracker.finish(f"imported ControlNet {model.name}")
    return model


def _import_component(
    source: Path, component: str, name: str | None, in_place: bool, tracker: ProgressTracker
) -> InstalledModel:
    """A component folder (config.json + weights) registered as the catalogue component `component`."""
    from ldm_studio.core.models.components import check_component_folder

    entry = get_entry(component)
    if entry.kind != "component" or entry.role is None:
        raise LdmStudioError(f"--component: {component!r} is a catalogue model, not a component")
    if not source.is_dir():
        raise FileFormatError(source, "a component is a folder with config.json and its weights")
    tracker.start("verifying", f"checking {source.name}")
    problems = check_component_folder(source, entry.role)
    if problems:
        raise ModelFolderError(source, "; ".join(problems))
    model_name = safe_name(name or entry.name)
    _refuse_taken(model_name)
    base = InstalledModel(
        model_name, "store", "", entry.family, catalogue=entry.name, source=str(source.resolve()), license=entry.license
    )
    model = _add_folder(source, base, in_place, tracker)
    tracker.finish(f"imported {model.name} ({entry.role} for {entry.family} models)")
    return model


def _is_stable_diffusion(source: Path) -> bool:
    """A `.safetensors` with Stable Diffusion keys (a `.ckpt` needs --architecture: its keys mean loading it all)."""
    from ldm_studio.core.models.single_file import is_stable_diffusion_file

    return is_stable_diffusion_file(source)


def _import_single_file(
    source: Path, name: str | None, architecture: str | None, tracker: ProgressTracker, config: Path | None = None
) -> InstalledModel:
    """Convert a Stable Diffusion single file into the store once (diffusers' loader, shipped configs)."""
    from ldm_studio.core.models.convert.converter import file_sha256
    from ldm_studio.core.models.single_file import load_single_file, save_single_file

    model_name = safe_name(name or source.stem)
    _refuse_taken(model_name)
    tracker.start("converting", source.name)
    loaded = load_single_file(
        source, architecture=architecture, config=config, report=lambda msg: tracker.note(msg, 0.5)
    )
    with _staging(model_name) as staging:
        out = staging / model_name
        save_single_file(loaded, out, name=model_name, source=source, sha256=file_sha256(source))
        info = require_valid(out, shapes=False)
        base = InstalledModel(model_name, "store", "", info.family, source=str(source.resolve()))
        model = _commit(staging, out, base, tracker)
    tracker.finish(f"imported {model.name} ({loaded.title})")
    return model


def _convert(
    checkpoint: Path, config: Path, out: Path, title: str, tracker: ProgressTracker, tokenizer: str | Path | None = None
) -> None:
    from ldm_studio.core.models.convert import convert_checkpoint  # torch: imported only to convert

    tracker.start("converting", checkpoint.name)
    convert_checkpoint(
        config, checkpoint, out, tokenizer=tokenizer, name=title, progress=lambda msg, frac: tracker.note(msg, frac)
    )


def _commit(staging: Path, out: Path, model: InstalledModel, tracker: ProgressTracker) -> InstalledModel:
    """Hash the finished folder, move it into the store with one rename, then register it."""
    files = folder_sha256(out, tracker)
    tracker.start("installing", model.name)
    final = models_dir() / model.name
    if final.exists():
        raise DownloadError(f"{final}: already exists; remove it (ldm-studio models remove {model.name}) first")
    out.rename(final)
    try:
        return add_entry(replace(model, path=str(final), files=files))
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise


class _staging:
    """A hidden folder in the models folder for building one model; removed whatever happens.

    The job holds an OS lock on `.owner.lock` inside it while it runs: a folder whose lock is free
    belongs to a job that was killed, and the next install removes it (`remove_stale_staging`).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.path: Path | None = None
        self._owner = contextlib.ExitStack()

    def __enter__(self) -> Path:
        root = models_dir()
        root.mkdir(parents=True, exist_ok=True)
        remove_stale_staging()
        self.path = Path(tempfile.mkdtemp(prefix=f".staging-{self.name}-", dir=root))
        self._owner.enter_context(file_lock(self.path / OWNER_LOCK, timeout=5))
        return self.path

    def __exit__(self, *exc: object) -> None:
        self._owner.close()
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


OWNER_LOCK = ".owner.lock"
STALE_AFTER_S = 60.0  # a folder this old whose owner lock is free was left by a killed job


def staging_folders() -> list[Path]:
    """Leftovers of jobs killed hard (power loss); never shown as models, safe to delete."""
    root = models_dir()
    return sorted(root.glob(".staging-*")) if root.is_dir() else []


def remove_stale_staging() -> list[Path]:
    """Delete staging folders of killed jobs (their owner lock is free, and they are not brand new)."""
    removed = []
    for folder in staging_folders():
        try:
            if time.time() - folder.stat().st_mtime < STALE_AFTER_S:
                continue  # just created: its job may not hold the lock yet
            with file_lock(folder / OWNER_LOCK, timeout=0):
                shutil.rmtree(folder, ignore_errors=True)
        except (OSError, LdmStudioError):
            continue  # a running job holds it, or it is gone already
        removed.append(folder)
    return removed


def _copy_tree(source: Path, out: Path, tracker: ProgressTracker) -> None:
    files = [p for p in sorted(source.rglob("*")) if p.is_file()]
    tracker.start("installing", f"copying {source.name}", total=sum(p.stat().st_size for p in files))
    for path in files:
        target = out / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as src, target.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
                tracker.add(len(block))
        shutil.copystat(path, target)


def _stamp(folder: Path, license: str | None, provenance: dict, defaults: dict | None = None) -> None:
    """Add the catalogue's licence, source and sampler settings to the converted folder's `ldm_studio.json`."""
    file = folder / INFO_FILE
    data = read_json(file)
    data["license"] = license
    if defaults:
        data["defaults"] = {**(data.get("defaults") or {}), **defaults}
    data["provenance"] = {**(data.get("provenance") or {}), **provenance}
    file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _check_family(entry: CatalogueEntry, family: str, folder: Path) -> None:
    if family != entry.family:
        raise ModelFolderError(
            folder, f"is a {family!r} model, but the catalogue says {entry.name} is {entry.family!r}"
        )


def _refuse_taken(name: str) -> None:
    if name in read_index() or (models_dir() / name).exists():
        raise LdmStudioError(f"a model named {name!r} is already installed; remove it first or choose another --name")


def _sibling_config(checkpoint: Path) -> Path | None:
    for candidate in (
        checkpoint.with_suffix(".yaml"),
        checkpoint.with_suffix(".yml"),
        checkpoint.parent / "config.yaml",
    ):
        if candidate.is_file():
            return candidate
    return None
