"""The one on-disk model format: diffusers subfolders plus `ldm_studio.json`.

A folder with `ldm_studio.json` is read as written. A plain diffusers repo (only
`model_index.json`) is recognised by its pipeline class and given the defaults its family
had in the paper. Either way the result is a `ModelInfo`, and every problem is a
`ModelFolderError` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ldm_studio.core.errors import ModelFolderError
from ldm_studio.core.generation.sampler_names import SAMPLER_NAMES

if TYPE_CHECKING:
    from ldm_studio.core.families.registry import FamilySpec

INFO_FILE = "ldm_studio.json"
FORMAT_VERSION = 1

AUTOENCODER_FOLDERS = ("vqvae", "vae")


@dataclass(frozen=True)
class Defaults:
    """Sampler settings a model was made for; the window and `generate` start from these."""

    sampler: str = "ddim"
    steps: int = 50
    guidance: float = 5.0
    eta: float = 0.0


@dataclass(frozen=True)
class ModelInfo:
    """What `ldm_studio.json` says about a model folder, plus facts read off its configs."""

    path: Path
    family: str
    name: str
    resolution: int
    latent_factor: int
    latent_channels: int
    scale_factor: float
    autoencoder: str  # subfolder: "vqvae" or "vae"
    autoencoder_kind: str  # "kl" or "vq"
    defaults: Defaults = field(default_factory=Defaults)
    label_set: str | None = None
    num_classes: int | None = None
    null_class: int | None = None
    class_names: tuple[str, ...] | None = None  # a model's own class list; None: ImageNet-1k order
    license: str | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "ldm_studio"  # or "diffusers" for a plain diffusers repo

    def to_json(self) -> dict[str, Any]:
        """The `ldm_studio.json` content (facts read off configs are not stored)."""
        return {
            "format": FORMAT_VERSION,
            "family": self.family,
            "name": self.name,
            "resolution": self.resolution,
            "autoencoder": self.autoencoder,
            "scale_factor": self.scale_factor,
            "label_set": self.label_set,
            "num_classes": self.num_classes,
            "null_class": self.null_class,
            "class_names": list(self.class_names) if self.class_names is not None else None,
            "defaults": asdict(self.defaults),
            "license": self.license,
            "provenance": dict(self.provenance),
        }


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or a ModelFolderError saying what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelFolderError(path, "file is missing") from None
    except OSError as exc:
        raise ModelFolderError(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(path, f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFolderError(path, "must hold a JSON object")
    return data


def is_model_folder(path: Path) -> bool:
    return (path / INFO_FILE).is_file() or (path / "model_index.json").is_file()


def read_model_info(path: str | Path) -> ModelInfo:
    """Read and check a model folder; raise ModelFolderError naming the first problem."""
    root = Path(path).expanduser()
    if not root.exists():
        raise ModelFolderError(root, "no such folder")
    if not root.is_dir():
        raise ModelFolderError(root, "is not a folder (a model is a folder with ldm_studio.json)")
    if (root / INFO_FILE).is_file():
        info = _from_studio_json(root)
    elif (root / "model_index.json").is_file():
        info = _from_diffusers_repo(root)
    else:
        raise ModelFolderError(root, f"is not a model folder: it has neither {INFO_FILE} nor model_index.json")
    for component in _family(root / INFO_FILE, info.family).components:
        if not (root / component).is_dir():
            raise ModelFolderError(root / component, f"missing: a {info.family!r} model needs this component")
    return info


def write_model_info(info: ModelInfo) -> Path:
    """Write `ldm_studio.json` for `info` into its folder."""
    target = info.path / INFO_FILE
    target.write_text(json.dumps(info.to_json(), indent=2) + "\n", encoding="utf-8")
    return target


def _from_studio_json(root: Path) -> ModelInfo:
    file = root / INFO_FILE
    data = read_json(file)
    version = data.get("format", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ModelFolderError(file, f"format {version!r} is not supported (this version reads {FORMAT_VERSION})")
    family = _family(file, data.get("family")).name
    autoencoder = data.get("autoencoder") or _find_autoencoder(root)
    if autoencoder not in AUTOENCODER_FOLDERS:
        raise ModelFolderError(file, f"autoencoder must be one of {AUTOENCODER_FOLDERS}, got {autoencoder!r}")
    ae = _autoencoder_facts(root / autoencoder)
    scale = data.get("scale_factor", ae["scaling_factor"])
    defaults = _defaults(file, data.get("defaults", {}))
    info = ModelInfo(
        path=root,
        family=family,
        name=str(data.get("name") or root.name),
        resolution=_positive_int(file, "resolution", data.get("resolution", ae["sample_size"])),
        latent_factor=ae["factor"],
        latent_channels=ae["channels"],
        scale_factor=_positive_float(file, "scale_factor", scale),
        autoencoder=autoencoder,
        autoencoder_kind=ae["kind"],
        defaults=defaults,
        label_set=data.get("label_set"),
        num_classes=data.get("num_classes"),
        null_class=data.get("null_class"),
        class_names=_class_names(file, data.get("class_names")),
        license=data.get("license"),
        provenance=data.get("provenance") or {},
    )
    return info


def _from_diffusers_repo(root: Path) -> ModelInfo:
    file = root / "model_index.json"
    index = read_json(file)
    from ldm_studio.core.families.registry import diffusers_pipelines, family_of_pipeline

    pipeline = index.get("_class_name")
    found = family_of_pipeline(pipeline)
    if found is None:
        known = ", ".join(diffusers_pipelines())
        raise ModelFolderError(file, f"pipeline {pipeline!r} is not supported; supported: {known}")
    spec, layout = found
    autoencoder = next((a for a in AUTOENCODER_FOLDERS if a in index), None) or _find_autoencoder(root)
    ae = _autoencoder_facts(root / autoencoder)
    unet_config = read_json(root / "unet" / "config.json")
    latent_size = unet_config.get("sample_size", 32)
    if isinstance(latent_size, (list, tuple)):
        latent_size = latent_size[0]
    info = ModelInfo(
        path=root,
        family=spec.name,
        name=root.name,
        resolution=int(latent_size) * ae["factor"],
        latent_factor=ae["factor"],
        latent_channels=ae["channels"],
        scale_factor=layout.scale_factor if layout.scale_factor is not None else ae["scaling_factor"],
        autoencoder=autoencoder,
        autoencoder_kind=ae["kind"],
        defaults=layout.defaults_for(root),
        provenance={"format": "diffusers", "pipeline": pipeline},
        origin="diffusers",
    )
    return info


def _family(file: Path, name: Any) -> FamilySpec:
    """The registered family `name`, or a ModelFolderError listing the known ones."""
    from ldm_studio.core.families.registry import family_names, get_family

    spec = get_family(name) if isinstance(name, str) else None
    if spec is None:
        raise ModelFolderError(file, f"unknown family {name!r}; known: {', '.join(family_names())}")
    return spec


def _find_autoencoder(root: Path) -> str:
    for name in AUTOENCODER_FOLDERS:
        if (root / name).is_dir():
            return name
    raise ModelFolderError(root, f"has no autoencoder folder ({' or '.join(AUTOENCODER_FOLDERS)})")


def _autoencoder_facts(folder: Path) -> dict[str, Any]:
    config = read_json(folder / "config.json")
    cls = config.get("_class_name")
    kinds = {"AutoencoderKL": "kl", "VQModel": "vq"}
    if cls not in kinds:
        raise ModelFolderError(folder / "config.json", f"autoencoder class {cls!r} is not AutoencoderKL or VQModel")
    blocks = config.get("block_out_channels")
    if not isinstance(blocks, list) or not blocks:
        raise ModelFolderError(folder / "config.json", "block_out_channels must be a non-empty list")
    default_scale = 0.18215 if cls == "AutoencoderKL" else 1.0
    return {
        "kind": kinds[cls],
        "factor": 2 ** (len(blocks) - 1),
        # A VQ latent (what the U-Net sees) has vq_embed_dim channels when that is set.
        "channels": int(
            config.get("vq_embed_dim") or config.get("latent_channels", 4 if cls == "AutoencoderKL" else 3)
        ),
        "scaling_factor": float(config.get("scaling_factor", default_scale)),
        "sample_size": int(config.get("sample_size", 256) or 256),
    }


def _defaults(file: Path, data: Any) -> Defaults:
    if not isinstance(data, dict):
        raise ModelFolderError(file, "defaults must be an object")
    unknown = set(data) - set(Defaults.__dataclass_fields__)
    if unknown:
        raise ModelFolderError(file, f"unknown defaults: {', '.join(sorted(unknown))}")
    out = replace(Defaults(), **data)
    if out.sampler not in SAMPLER_NAMES:
        raise ModelFolderError(file, f"default sampler {out.sampler!r} is unknown")
    _positive_int(file, "defaults.steps", out.steps)
    return out


def _positive_int(file: Path, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ModelFolderError(file, f"{name} must be a positive integer, got {value!r}")
    return value


def _positive_float(file: Path, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ModelFolderError(file, f"{name} must be a positive number, got {value!r}")
    return float(value)


def _class_names(file: Path, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ModelFolderError(file, "class_names must be a list of non-empty names")
    return tuple(value)
