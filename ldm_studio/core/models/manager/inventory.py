"""What is installed and what can be: listing, removing and verifying models.

Installed models are the store's index entries plus LDM pipelines already in the shared hub
cache (downloaded by diffusers or another tool), which are usable without downloading again.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from ldm_studio.core.errors import ChecksumError, FileFormatError, LdmStudioError, ModelFolderError
from ldm_studio.core.families.registry import family_of_pipeline
from ldm_studio.core.files.store import models_dir
from ldm_studio.core.models.catalogue import CatalogueEntry, load_catalogue
from ldm_studio.core.models.controlnets import ROLE, read_controlnet
from ldm_studio.core.models.manager.hashing import file_digests, model_files
from ldm_studio.core.models.manager.hub import hub_cache_models, read_pipeline_class
from ldm_studio.core.models.manager.install import downloads_dir
from ldm_studio.core.models.manager.progress import ProgressFn, ProgressTracker
from ldm_studio.core.models.manager.registry import InstalledModel, read_index, remove_entry
from ldm_studio.core.models.manager.validate import check_model_folder

# "shipped": the demo model inside the package; "not installed": in the catalogue, downloadable
STATES = ("shipped", "installed", "in hub cache", "partial download", "not installed", "missing")


@dataclass(frozen=True)
class ModelRow:
    """One line of the Models list: a catalogue entry, an installed model, or both."""

    name: str
    state: str  # one of STATES
    family: str | None
    title: str | None = None
    source: str | None = None
    license: str | None = None
    size_bytes: int | None = None  # catalogue size when known, else the files' size on disk
    path: Path | None = None
    entry: CatalogueEntry | None = None
    installed: InstalledModel | None = None
    kind: str = "model"  # "model", "component", or "controlnet" (attached to a base model of `family`)


def list_models(catalogue: dict[str, CatalogueEntry] | None = None, hub_cache: Path | None = None) -> list[ModelRow]:
    """Catalogue entries first (in catalogue order), then other installed models, by name."""
    cat = load_catalogue() if catalogue is None else catalogue
    index = read_index()
    cached = hub_cache_models(hub_cache)
    rows: list[ModelRow] = demo_rows()
    for entry in cat.values():
        installed = index.get(entry.name)
        path = installed.folder if installed else cached.get(entry.repo_id or "")
        if installed is not None:
            state = "installed" if installed.folder.is_dir() else "missing"
        elif path is not None:
            state = "in hub cache"
        elif any(downloads_dir(entry.name).glob("*")):
            state = "partial download"
        else:
            state = "not installed"
        rows.append(
            ModelRow(
                entry.name,
                state,
                entry.family,
                entry.title,
                entry.source_label,
                entry.license,
                entry.size_bytes or (_size(path) if path else None),
                path,
                entry,
                installed,
                entry.kind,
            )
        )
    known_repos = {e.repo_id for e in cat.values()}
    for name, model in sorted(index.items()):
        if name not in cat:
            state = "installed" if model.folder.is_dir() else "missing"
            rows.append(
                ModelRow(
                    name,
                    state,
                    model.family,
                    None,
                    model.source,
                    model.license,
                    _size(model.folder),
                    model.folder,
                    None,
                    model,
                    model.role,
                )
            )
    for repo_id, path in sorted(cached.items()):
        if repo_id not in known_repos and not any(m.repo_id == repo_id for m in index.values()):
            found = family_of_pipeline(read_pipeline_class(path))
            family = found[0].name if found else None
            rows.append(ModelRow(repo_id, "in hub cache", family, None, f"hub:{repo_id}", None, _size(path), path))
    return rows


def demo_rows() -> list[ModelRow]:
    """The demo model shipped inside the package (nothing to download or remove), when this install has it."""
    from ldm_studio.core.models.demo_model import demo_model_path
    from ldm_studio.core.models.model_folder import read_model_info

    path = demo_model_path()
    if path is None:
        return []
    try:
        info = read_model_info(path)
    except LdmStudioError:
        return []
    license = info.license.split(" (")[0] if info.license else None
    return [ModelRow("demo", "shipped", info.family, info.name, "shipped with LDM Studio", license, _size(path), path)]


def remove(name: str) -> InstalledModel:
    """Delete a store model (folder and index entry). A hub model is only unregistered: its files
    stay in the shared hub cache, which other tools may use."""
    index = read_index()
    if name not in index:
        raise LdmStudioError(f"no installed model named {name!r}; see `ldm-studio models list`")
    model = index[name]
    if model.kind == "store":
        root = models_dir().resolve()
        folder = model.folder.resolve()
        if folder.parent != root:
            raise LdmStudioError(f"{folder}: not inside the models folder {root}; refusing to delete it")
        remove_entry(name)  # first: a half-deleted folder must never look installed
        shutil.rmtree(folder, ignore_errors=True)
    else:
        remove_entry(name)
    return model


@dataclass(frozen=True)
class VerifyReport:
    name: str
    checked: int  # files re-hashed
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(name: str, *, progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> VerifyReport:
    """Re-hash every recorded file, look for missing and unrecorded ones, and load the configs."""
    index = read_index()
    if name not in index:
        raise LdmStudioError(f"no installed model named {name!r}; see `ldm-studio models list`")
    model = index[name]
    tracker = ProgressTracker(progress, cancel, what="verify")
    folder = model.folder
    if not folder.is_dir():
        return VerifyReport(name, 0, (f"{folder}: the model folder is missing",))
    problems: list[str] = []
    present = {p.relative_to(folder).as_posix(): p for p in model_files(folder)}
    recorded = model.files
    total = sum(present[r].stat().st_size for r in recorded if r in present)
    tracker.start("verifying", name, total=total)
    checked = 0
    for rel, expected in sorted(recorded.items()):
        path = present.get(rel)
        if path is None:
            problems.append(f"{folder / rel}: missing")
            continue
        tracker.note(f"hashing {rel}")
        actual = file_digests(path, tracker)[0]
        checked += 1
        if actual != expected:
            problems.append(str(ChecksumError(folder / rel, expected, actual)))
    if model.kind != "hub":  # a hub snapshot may also hold files another tool fetched
        problems += [f"{folder / rel}: not recorded at install time" for rel in sorted(set(present) - set(recorded))]
    tracker.start("verifying", f"loading configs of {name}")
    from ldm_studio.core.models.components import check_component_folder, component_entry

    component = component_entry(model.catalogue)
    if model.role == ROLE:
        try:
            read_controlnet(folder)
        except (FileFormatError, ModelFolderError) as exc:
            problems.append(str(exc))
    elif component is not None and component.role is not None:
        problems += check_component_folder(folder, component.role)
    else:
        problems += check_model_folder(folder, shapes=model.kind != "hub")[1]
    tracker.finish("verified" if not problems else f"{len(problems)} problem(s)")
    return VerifyReport(name, checked, tuple(problems))


def _size(path: Path | None) -> int | None:
    if path is None or not path.is_dir():
        return None
    return sum(p.stat().st_size for p in model_files(path))
