"""The catalogue of real models LDM Studio can download, read from `resources/catalogue.json`.

Extending it needs no code: add an entry to the JSON file, or list extra files in
LDM_STUDIO_CATALOGUE (separated by the path separator), or write `<config dir>/catalogue.json`.
A later entry with the same name replaces an earlier one, so a user can pin another mirror.
Two source types exist: "hub" (a diffusers repo on the Hugging Face hub) and "original" (CompVis
`.ckpt` + `.yaml`, plain files or zip archives, converted after download).
An entry's "kind" is "model" (the default) or "component": a part attached to a base model of its
family ("role": "preview_decoder", a TAESD `AutoencoderTiny`; or "vae", a replacement `AutoencoderKL`),
see `core.models.components`; or "controlnet": a diffusers `ControlNetModel` a request attaches to a
model of its family (`core.models.controlnets`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ldm_studio.core.errors import FileFormatError
from ldm_studio.core.files.store import user_config_dir
from ldm_studio.resources_path import resource_path

SOURCE_TYPES = ("hub", "original")
COMPONENT_ROLES = {"preview_decoder": "AutoencoderTiny", "vae": "AutoencoderKL"}  # role -> diffusers class


@dataclass(frozen=True)
class RemoteFile:
    """One file of an original model: where it is, what to call it, and what it should be."""

    url: str
    save_as: str
    unpack: str | None = None  # "zip" or None (use as is)
    size_bytes: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class CatalogueEntry:
    """A downloadable model. Facts that are unknown are None, never guessed."""

    name: str
    title: str
    family: str
    source_type: str  # "hub" or "original"
    resolution: int | None = None
    license: str | None = None
    license_note: str | None = None
    homepage: str | None = None
    size_bytes: int | None = None
    size_note: str | None = None
    size_published: str | None = None  # the source's own rounded figure (e.g. the README's "5.7 GB") when no exact size
    repo_id: str | None = None  # hub only
    revision: str = "main"  # hub only
    downloads: tuple[RemoteFile, ...] = ()  # original only
    checkpoint: str | None = None  # original only: file name of the .ckpt after unpacking
    config: str | None = None  # original only: file name of the .yaml after unpacking
    tokenizer: str | None = None  # original text models: file name of the BERT vocab.txt after download
    defaults: dict[str, Any] | None = None  # sampler settings from the README/paper/scripts, applied after conversion
    architecture: str | None = None  # informational: first stage, U-Net, conditioning
    note: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    kind: str = "model"  # "model", "component" or "controlnet" (attached to a base model of `family`)
    role: str | None = None  # components: a key of COMPONENT_ROLES

    @property
    def size_label(self) -> str | None:
        """The exact size when known, else the source's published figure (marked approximate)."""
        if self.size_bytes:
            from ldm_studio.core.models.manager.progress import format_bytes

            return format_bytes(self.size_bytes)
        return f"~{self.size_published}" if self.size_published else None

    @property
    def recommended(self) -> dict[str, Any] | None:
        """The settings the model's makers recommend (sampler, steps, guidance), when the entry gives them."""
        value = self.raw.get("recommended")
        return dict(value) if isinstance(value, dict) else None

    @property
    def source_label(self) -> str:
        """Where it comes from, in a few words (for lists)."""
        if self.source_type == "hub":
            return f"hub:{self.repo_id}"
        return self.downloads[0].url if self.downloads else "original"


def builtin_catalogue_text() -> str:
    return resource_path("catalogue.json").read_text(encoding="utf-8")


def extra_catalogue_files() -> list[Path]:
    """User catalogues: LDM_STUDIO_CATALOGUE (path-separated) and `<config dir>/catalogue.json`."""
    files = [Path(p).expanduser() for p in os.environ.get("LDM_STUDIO_CATALOGUE", "").split(os.pathsep) if p]
    user = user_config_dir() / "catalogue.json"
    if user.is_file():
        files.append(user)
    return files


def load_catalogue(extra: Iterable[Path] | None = None) -> dict[str, CatalogueEntry]:
    """All entries by name: the built-in ones, then the extra files' (which may replace them)."""
    entries: dict[str, CatalogueEntry] = {}
    for entry in parse_catalogue(json.loads(builtin_catalogue_text()), "catalogue.json"):
        entries[entry.name] = entry
    for path in extra_catalogue_files() if extra is None else extra:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FileFormatError(path, f"is not a readable catalogue ({exc})") from None
        for entry in parse_catalogue(data, path):
            entries[entry.name] = entry
    return entries


def get_entry(name: str, catalogue: dict[str, CatalogueEntry] | None = None) -> CatalogueEntry:
    cat = load_catalogue() if catalogue is None else catalogue
    if name not in cat:
        raise FileFormatError("catalogue", f"no model named {name!r}; known: {', '.join(sorted(cat)) or 'none'}")
    return cat[name]


def parse_catalogue(data: Any, where: object) -> list[CatalogueEntry]:
    """Entries of one catalogue document; FileFormatError naming the entry and field otherwise."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise FileFormatError(where, 'a catalogue is an object with a "models" list')
    return [_entry(item, f"{where}: models[{i}]") for i, item in enumerate(data["models"])]


def _entry(item: Any, where: str) -> CatalogueEntry:
    if not isinstance(item, dict):
        raise FileFormatError(where, "must be an object")
    name = item.get("name")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise FileFormatError(where, f"name must be a plain non-empty string, got {name!r}")
    family = item.get("family")
    from ldm_studio.core.families.registry import family_names

    if family not in family_names():
        raise FileFormatError(where, f"unknown family {family!r}; known: {', '.join(family_names())}")
    _check_recommended(item.get("recommended"), where)
    source = item.get("source")
    if not isinstance(source, dict) or source.get("type") not in SOURCE_TYPES:
        raise FileFormatError(where, f"source.type must be one of {SOURCE_TYPES}")
    common: dict[str, Any] = {
        "name": name,
        "title": str(item.get("title") or name),
        "family": family,
        "source_type": source["type"],
        "resolution": item.get("resolution"),
        "license": item.get("license"),
        "license_note": item.get("license_note"),
        "homepage": item.get("homepage"),
        "size_bytes": item.get("size_bytes"),
        "size_note": item.get("size_note"),
        "size_published": item.get("size_published"),
        "note": source.get("note"),
        "defaults": _defaults(item.get("defaults"), where),
        "architecture": item.get("architecture"),
        "raw": item,
    }
    common.update(_component_fields(item, source, where))
    if source["type"] == "hub":
        repo_id = source.get("repo_id")
        if not isinstance(repo_id, str) or repo_id.count("/") != 1:
            raise FileFormatError(where, f"source.repo_id must be 'owner/name', got {repo_id!r}")
        return CatalogueEntry(**common, repo_id=repo_id, revision=str(source.get("revision") or "main"))
    downloads = source.get("downloads")
    if not isinstance(downloads, list) or not downloads:
        raise FileFormatError(where, "source.downloads must be a non-empty list")
    files = tuple(_remote(d, f"{where}: source.downloads[{i}]") for i, d in enumerate(downloads))
    for key in ("checkpoint", "config"):
        if not isinstance(source.get(key), str):
            raise FileFormatError(where, f"source.{key} must name the file after download/unpacking")
    tokenizer = source.get("tokenizer")
    if tokenizer is not None and tokenizer not in {f.save_as for f in files}:
        raise FileFormatError(where, f"source.tokenizer {tokenizer!r} must name one of the downloads")
    return CatalogueEntry(
        **common, downloads=files, checkpoint=source["checkpoint"], config=source["config"], tokenizer=tokenizer
    )


def _component_fields(item: dict, source: dict, where: str) -> dict[str, Any]:
    """`kind` and, for a component, its `role` (a hub repo holding one diffusers model: config.json + weights)."""
    kind = item.get("kind", "model")
    if kind == "controlnet":  # one diffusers ControlNetModel, chosen per request (core.models.controlnets)
        if source.get("type") != "hub":
            raise FileFormatError(where, "a controlnet comes from the hub (source.type 'hub')")
        return {"kind": kind}
    if kind == "model":
        return {}
    if kind != "component":
        raise FileFormatError(where, f"kind must be 'model', 'component' or 'controlnet', got {kind!r}")
    role = item.get("role")
    if role not in COMPONENT_ROLES:
        raise FileFormatError(where, f"a component's role must be one of {', '.join(COMPONENT_ROLES)}, got {role!r}")
    if source.get("type") != "hub":
        raise FileFormatError(where, "a component comes from the hub (source.type 'hub')")
    return {"kind": kind, "role": role}


def _defaults(value: Any, where: str) -> dict[str, Any] | None:
    """Optional sampler settings: a subset of sampler/steps/guidance/eta with sane types."""
    if value is None:
        return None
    types: dict[str, type | tuple[type, ...]] = {  # isinstance() class specs
        "sampler": str,
        "steps": int,
        "guidance": (int, float),
        "eta": (int, float),
    }
    if not isinstance(value, dict) or set(value) - set(types):
        raise FileFormatError(where, f"defaults must be an object with keys among {', '.join(types)}")
    for key, kind in types.items():
        if key in value and (isinstance(value[key], bool) or not isinstance(value[key], kind)):
            raise FileFormatError(where, f"defaults.{key} has the wrong type: {value[key]!r}")
    return dict(value)


def _check_recommended(value: Any, where: str) -> None:
    """`recommended`: absent, or {sampler: a known sampler, steps: int > 0, guidance: number >= 0}."""
    if value is None:
        return
    from ldm_studio.core.generation.sampler_names import SAMPLER_NAMES

    if not isinstance(value, dict) or set(value) - {"sampler", "steps", "guidance"}:
        raise FileFormatError(where, "recommended must be an object with sampler, steps and guidance")
    if "sampler" in value and value["sampler"] not in SAMPLER_NAMES:
        raise FileFormatError(where, f"recommended.sampler {value['sampler']!r} is unknown")
    steps = value.get("steps", 1)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise FileFormatError(where, f"recommended.steps must be a positive integer, got {steps!r}")
    guidance = value.get("guidance", 1.0)
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or guidance < 0:
        raise FileFormatError(where, f"recommended.guidance must be a number >= 0, got {guidance!r}")


def _remote(item: Any, where: str) -> RemoteFile:
    if not isinstance(item, dict) or not isinstance(item.get("url"), str):
        raise FileFormatError(where, "must be an object with a url")
    save_as = item.get("save_as") or item["url"].rstrip("/").rsplit("/", 1)[-1]
    if "/" in save_as or "\\" in save_as or save_as.startswith("."):
        raise FileFormatError(where, f"save_as must be a plain file name, got {save_as!r}")
    unpack = item.get("unpack")
    if unpack not in (None, "zip"):
        raise FileFormatError(where, f"unpack must be 'zip' or absent, got {unpack!r}")
    sha = item.get("sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
        raise FileFormatError(where, "sha256 must be 64 hex digits or null")
    return RemoteFile(item["url"], save_as, unpack, item.get("size_bytes"), sha.lower() if sha else None)
