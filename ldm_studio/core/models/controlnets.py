"""ControlNets as model-store items: recognise a diffusers ControlNet folder, list, resolve and import them.

A ControlNet is not a model of its own (it has no autoencoder, scheduler or text encoder): it is
a diffusers `ControlNetModel` folder (`config.json` + `diffusion_pytorch_model.safetensors`)
attached to a base model whose U-Net it was trained beside. The store keeps it in the same index
as the models, with `role="controlnet"` and the base family it attaches to (read from its
config: SDXL's have `addition_embed_type: "text_time"`). No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ldm_studio.core.errors import FileFormatError, ModelFolderError, RequestError
from ldm_studio.core.models.model_folder import read_json

CONTROLNET_CLASS = "ControlNetModel"
ROLE = "controlnet"
WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


@dataclass(frozen=True)
class ControlNetInfo:
    """What a ControlNet folder says about itself."""

    path: Path
    family: str  # the base family it attaches to ("sd" or "sdxl")
    cross_attention_dim: int | None
    conditioning_channels: int
    config: dict[str, Any]


def is_controlnet_folder(folder: Path) -> bool:
    """A folder whose `config.json` names diffusers' `ControlNetModel`."""
    config = folder / "config.json"
    if not config.is_file():
        return False
    try:
        return read_json(config).get("_class_name") == CONTROLNET_CLASS
    except ModelFolderError:
        return False


def read_controlnet(folder: str | Path) -> ControlNetInfo:
    """The ControlNet in `folder`; FileFormatError naming the file when it is not one."""
    root = Path(folder).expanduser()
    config_file = root / "config.json"
    if not config_file.is_file():
        raise FileFormatError(root, "is not a ControlNet folder (no config.json)")
    config = read_json(config_file)
    if config.get("_class_name") != CONTROLNET_CLASS:
        raise FileFormatError(config_file, f"_class_name is {config.get('_class_name')!r}, not {CONTROLNET_CLASS!r}")
    if not any((root / name).is_file() for name in WEIGHT_NAMES):
        raise FileFormatError(root, f"has no ControlNet weights ({' or '.join(WEIGHT_NAMES)})")
    dim = config.get("cross_attention_dim")
    family = "sdxl" if config.get("addition_embed_type") == "text_time" else "sd"
    channels = int(config.get("conditioning_channels", 3))
    return ControlNetInfo(root, family, int(dim) if isinstance(dim, int) else None, channels, config)


def installed_controlnets() -> dict[str, Path]:
    """Installed ControlNets by store name → folder (those whose folder is there)."""
    from ldm_studio.core.models.manager.registry import read_index

    return {
        name: model.folder
        for name, model in read_index().items()
        if model.role == ROLE and model.folder.is_dir()
    }


def resolve_controlnet(name: str, field: str = "controlnet") -> tuple[Path, str]:
    """An installed ControlNet's name or a ControlNet folder → (folder, short weights hash).

    RequestError naming `field` when it is neither.
    """
    from ldm_studio.core.models.model_hash import model_hash

    folder = Path(name).expanduser()
    if not folder.is_dir():
        found = installed_controlnets().get(name)
        if found is None:
            known = ", ".join(sorted(installed_controlnets())) or "none installed"
            raise RequestError(
                field, f"{name!r} is neither a ControlNet folder nor an installed ControlNet ({known})"
            )
        folder = found
    try:
        read_controlnet(folder)
    except (FileFormatError, ModelFolderError) as exc:
        raise RequestError(field, str(exc)) from None
    return folder.resolve(), model_hash(folder)
