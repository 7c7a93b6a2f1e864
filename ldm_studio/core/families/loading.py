"""Loading helpers the class, semantic and unconditional families share."""

from __future__ import annotations

from pathlib import Path

from diffusers import UNet2DConditionModel, UNet2DModel

from ldm_studio.core.errors import ModelFolderError
from ldm_studio.core.families.base import load_component
from ldm_studio.core.generation.device import DeviceChoice
from ldm_studio.core.models.cond_stages import ClassEmbedder, SpatialRescaler, load_cond_stage
from ldm_studio.core.models.model_folder import ModelInfo, read_json
from ldm_studio.core.models.unet_heads import apply_attention_heads

UNET_CLASSES = {"UNet2DModel": UNet2DModel, "UNet2DConditionModel": UNet2DConditionModel}


def load_unet(info: ModelInfo, choice: DeviceChoice, allowed: tuple[str, ...]) -> UNet2DModel | UNet2DConditionModel:
    """The U-Net of `info`, checking its class is one this family can drive."""
    folder = info.path / "unet"
    name = read_json(folder / "config.json").get("_class_name")
    if name not in allowed:
        raise ModelFolderError(
            folder / "config.json", f"a {info.family!r} model needs a {' or '.join(allowed)}, not {name!r}"
        )
    unet = load_component(UNET_CLASSES[name], folder, choice)
    try:
        apply_attention_heads(unet)  # per-layer heads of a converted legacy U-Net (see unet_heads)
    except ValueError as exc:
        raise ModelFolderError(folder / "config.json", str(exc)) from None
    return unet


def load_encoder(info: ModelInfo, choice: DeviceChoice, expected: str) -> ClassEmbedder | SpatialRescaler:
    """The `cond_stage/` encoder on the device; kept in float32 (it is tiny and feeds fp32 maths)."""
    module = load_cond_stage(info.path / "cond_stage", expected)
    return module.to(choice.device)


def check_map_encoder(
    info: ModelInfo, rescaler: SpatialRescaler, unet: UNet2DModel | UNet2DConditionModel, folder: Path
) -> None:
    """A concatenated map must land at latent size, and the U-Net must expect latent + map channels."""
    shrink = round((1 / rescaler.multiplier) ** rescaler.n_stages)
    if shrink != info.latent_factor:
        raise ModelFolderError(
            folder, f"the map encoder shrinks by {shrink}, but the latent factor is {info.latent_factor}"
        )
    expected = info.latent_channels + rescaler.output_channels
    if unet.config.in_channels != expected:
        raise ModelFolderError(
            info.path / "unet", f"in_channels is {unet.config.in_channels}, expected latent + map = {expected}"
        )
