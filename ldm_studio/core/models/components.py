"""Components: parts attached to a base model of a family, installed like models (catalogue kind "component").

Two roles exist (`catalogue.COMPONENT_ROLES`): a "preview_decoder" (TAESD / TAESDXL, a diffusers
`AutoencoderTiny` that decodes the loop's x0 prediction for live previews at a fraction of the
real decoder's cost) and a "vae" (a replacement `AutoencoderKL`, e.g. the SDXL fp16-fix VAE that
does not overflow in half precision). A component is one diffusers model folder (config.json +
weights); the store's index records it with its catalogue name, and its family and role come from
that catalogue entry, so a model of the same family finds it without any configuration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.models.catalogue import COMPONENT_ROLES, CatalogueEntry, load_catalogue

WEIGHT_STEM = "diffusion_pytorch_model"


@dataclass(frozen=True)
class InstalledComponent:
    """An installed component: its catalogue entry (family, role) and its folder."""

    name: str
    entry: CatalogueEntry
    folder: Path

    @property
    def role(self) -> str:
        assert self.entry.role is not None
        return self.entry.role


def check_component_folder(folder: Path, role: str) -> list[str]:
    """Problems of a component folder for `role`, one line each naming the file (empty: usable)."""
    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{config_file}: missing"]
    except (OSError, ValueError) as exc:
        return [f"{config_file}: not valid JSON ({exc})"]
    problems = []
    expected = COMPONENT_ROLES[role]
    if not isinstance(config, dict) or config.get("_class_name") != expected:
        found = config.get("_class_name") if isinstance(config, dict) else None
        problems.append(f"{config_file}: a {role} component is a {expected}, not {found!r}")
    weights = [p for p in folder.glob(f"{WEIGHT_STEM}*") if p.suffix in (".safetensors", ".bin")]
    if not weights:
        problems.append(f"{folder}: missing weights ({WEIGHT_STEM}.safetensors or .bin)")
    return problems


def component_entry(name: str | None, catalogue: dict[str, CatalogueEntry] | None = None) -> CatalogueEntry | None:
    """The catalogue entry `name` when it is a component, else None."""
    if name is None:
        return None
    try:
        entry = (load_catalogue() if catalogue is None else catalogue).get(name)
    except LdmStudioError:  # an unreadable user catalogue must not hide the installed models
        return None
    return entry if entry is not None and entry.kind == "component" else None


def installed_components(
    family: str | None = None, role: str | None = None, catalogue: dict[str, CatalogueEntry] | None = None
) -> list[InstalledComponent]:
    """Installed components (index entries whose catalogue entry is a component), optionally of one
    family and role, in index order (by name); folders that are gone are left out."""
    from ldm_studio.core.models.manager.registry import read_index

    try:
        index = read_index()
        cat = load_catalogue() if catalogue is None else catalogue
    except LdmStudioError:
        return []
    found = []
    for name, model in sorted(index.items()):
        entry = component_entry(model.catalogue, cat)
        if entry is None or not model.folder.is_dir():
            continue
        if (family is None or entry.family == family) and (role is None or entry.role == role):
            found.append(InstalledComponent(name, entry, model.folder))
    return found


def find_component(family: str, role: str, name: str | None = None) -> InstalledComponent | None:
    """The installed component `name` (which must fit `family` and `role`), or the first one that does."""
    candidates = installed_components(family, role)
    if name is None:
        return candidates[0] if candidates else None
    match = next((c for c in candidates if c.name == name), None)
    if match is None:
        fitting = ", ".join(c.name for c in candidates) or "none installed"
        raise LdmStudioError(f"component {name!r} is not an installed {role} for {family!r} models ({fitting})")
    return match
