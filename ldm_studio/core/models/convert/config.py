"""Reading an original CompVis `config.yaml` (`model.params` of a LatentDiffusion) into plain values.

Only `yaml.safe_load` is used (no OmegaConf, no imports of the targets). Settings that change
what the model computes and that LDM Studio cannot represent are refused by name; settings
that only matter for training are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ldm_studio.core.errors import ConversionError, FileFormatError
from ldm_studio.core.files.untrusted import MAX_YAML_BYTES, read_text_bounded, short_repr, short_text

LATENT_DIFFUSION = "ldm.models.diffusion.ddpm.LatentDiffusion"
# cond_stage_config: __is_first_stage__ — the first stage encodes the conditioning image (inpainting_big).
FIRST_STAGE_COND = "__is_first_stage__"

# model.params keys that only matter for training or logging.
TRAINING_ONLY = {
    "base_learning_rate",
    "num_timesteps_cond",
    "log_every_t",
    "first_stage_key",
    "cond_stage_trainable",
    "monitor",
    "use_ema",
    "loss_type",
    "scheduler_config",
    "ckpt_path",
    "ignore_keys",
    "load_only_unet",
    "learn_logvar",
    "logvar_init",
    "l_simple_weight",
    "original_elbo_weight",
    "v_posterior",
    "clip_denoised",
    "cond_stage_forward",
    "image_size",
    "channels",
    "cosine_s",
}
HANDLED = {
    "linear_start",
    "linear_end",
    "timesteps",
    "scale_factor",
    "scale_by_std",
    "conditioning_key",
    "concat_mode",
    "cond_stage_key",
    "first_stage_config",
    "cond_stage_config",
    "unet_config",
    "beta_schedule",
    "parameterization",
    "given_betas",
    "use_positional_encodings",
}


@dataclass(frozen=True)
class Target:
    """A `{target: ..., params: ...}` block of the yaml."""

    target: str
    params: dict[str, Any]

    @property
    def name(self) -> str:
        return self.target.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class OriginalConfig:
    """What the converter needs from `model.params`."""

    path: Path
    linear_start: float
    linear_end: float
    timesteps: int
    scale_factor: float
    scale_by_std: bool
    conditioning_key: str | None  # "crossattn", "concat" or None (unconditional)
    cond_stage_key: str | None
    unet: Target
    first_stage: Target
    cond_stage: Target | None  # None: unconditional; Target(FIRST_STAGE_COND, {}): the first stage encodes it
    image_size: int | None  # latent size
    # DDPM's default. With use_ema: False the original builds no EMA model, ignores model_ema.*
    # when loading, and samples with the raw weights (cin256-v2 and the text model say so).
    use_ema: bool = True


def read_config(path: str | Path) -> OriginalConfig:
    """Parse and check an original config; ConversionError naming the file and setting."""
    file = Path(path).expanduser()
    try:
        text = read_text_bounded(file, MAX_YAML_BYTES, "config")
    except FileFormatError as exc:
        raise ConversionError(file, exc.problem) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConversionError(file, f"is not valid YAML ({short_text(str(exc), 160)})") from None
    except RecursionError:
        raise ConversionError(file, "is nested too deeply to be an original config") from None
    from ldm_studio.core.models.convert.sanity import check_config_size

    check_config_size(file, data)  # before any value of it is shown or copied
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConversionError(file, "has no 'model' section: is this an original latent-diffusion config?")
    model = data["model"]
    target = model.get("target")
    if target != LATENT_DIFFUSION:
        raise ConversionError(file, f"model.target {short_repr(target)} is not supported (only {LATENT_DIFFUSION})")
    params = model.get("params") or {}
    if not isinstance(params, dict):
        raise ConversionError(file, "model.params must be a mapping")
    unknown = sorted(set(params) - TRAINING_ONLY - HANDLED, key=str)
    if unknown:
        raise ConversionError(file, f"unsupported setting model.params.{unknown[0]}")
    _require(file, params, "beta_schedule", "linear")
    _require(file, params, "parameterization", "eps")
    _require(file, params, "given_betas", None)
    _require(file, params, "use_positional_encodings", False)

    unet = _target(file, params, "unet_config")
    first_stage = _target(file, params, "first_stage_config")
    cond_raw = params.get("cond_stage_config")
    conditioning_key = params.get("conditioning_key")
    if conditioning_key is None:
        conditioning_key = "concat" if params.get("concat_mode", True) else "crossattn"
    if cond_raw == "__is_unconditional__":
        cond_stage, conditioning_key = None, None
    elif cond_raw == FIRST_STAGE_COND:
        cond_stage = Target(FIRST_STAGE_COND, {})
    else:
        cond_stage = _target(file, params, "cond_stage_config")
    if conditioning_key not in (None, "crossattn", "concat"):
        shown = short_repr(conditioning_key)
        raise ConversionError(file, f"unsupported setting model.params.conditioning_key: {shown}")
    return OriginalConfig(
        path=file,
        linear_start=_number(file, params, "linear_start", 1e-4),
        linear_end=_number(file, params, "linear_end", 2e-2),
        timesteps=int(_number(file, params, "timesteps", 1000)),
        scale_factor=_number(file, params, "scale_factor", 1.0),
        scale_by_std=bool(params.get("scale_by_std", False)),
        conditioning_key=conditioning_key,
        cond_stage_key=params.get("cond_stage_key"),
        unet=unet,
        first_stage=first_stage,
        cond_stage=cond_stage,
        image_size=params.get("image_size"),
        use_ema=bool(params.get("use_ema", True)),
    )


def _target(file: Path, params: dict, key: str) -> Target:
    block = params.get(key)
    if not isinstance(block, dict) or not isinstance(block.get("target"), str):
        raise ConversionError(file, f"model.params.{key} must have a 'target'")
    inner = block.get("params") or {}
    if not isinstance(inner, dict):
        raise ConversionError(file, f"model.params.{key}.params must be a mapping")
    return Target(block["target"], dict(inner))


def _require(file: Path, params: dict, key: str, value: Any) -> None:
    if key in params and params[key] != value:
        shown = short_repr(params[key])
        raise ConversionError(file, f"unsupported setting model.params.{key}: {shown} (only {value!r})")


def _number(file: Path, params: dict, key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConversionError(file, f"model.params.{key} must be a number, got {short_repr(value)}")
    return float(value)


def check_params(file: Path, where: str, params: dict[str, Any], known: set[str], ignored: set[str]) -> None:
    """Refuse any setting under `where` that is neither handled (`known`) nor training-only."""
    unknown = sorted(set(params) - known - ignored, key=str)
    if unknown:
        key = unknown[0]
        raise ConversionError(file, f"unsupported setting {where}.{key} = {short_repr(params[key])}")
