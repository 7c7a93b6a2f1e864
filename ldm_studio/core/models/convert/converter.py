"""Original CompVis `.ckpt` + `config.yaml` → an LDM Studio model folder (diffusers subfolders, safetensors).

Order of work: read and check the config first (cheap, and most unsupported models fail
there), then read the checkpoint safely, split its keys by component, prefer the EMA U-Net
weights, map every key (any leftover or unfilled parameter is an error), check the stored
noise schedule against the config, and write the folder to a temporary name that is renamed
into place only when complete.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from diffusers import DDIMScheduler

from ldm_studio import __version__
from ldm_studio.core.errors import ConversionError
from ldm_studio.core.families.registry import (
    CondStageResult,
    ConverterHook,
    FamilySpec,
    family_for_original,
    get_family,
)
from ldm_studio.core.generation.samplers import compvis_ddim
from ldm_studio.core.models.convert import autoencoder, sanity, unet
from ldm_studio.core.models.convert.config import FIRST_STAGE_COND, OriginalConfig, read_config
from ldm_studio.core.models.convert.keys import KeyMap
from ldm_studio.core.models.model_folder import ModelInfo, write_model_info
from ldm_studio.core.models.safe_load import read_checkpoint

ProgressFn = Callable[[str, float], None]

UNET_PREFIX = "model.diffusion_model."
FIRST_STAGE_PREFIX = "first_stage_model."
COND_STAGE_PREFIX = "cond_stage_model."
EMA_PREFIX = "model_ema."
WEIGHT_CHOICES = ("auto", "ema", "raw")
SCHEDULE_BUFFERS = {
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
}
OTHER_BUFFERS = {"logvar", "cond_ids", "model_ema.decay", "model_ema.num_updates"}

IDENTITY = "torch.nn.Identity"
LAYOUT_KEYS = {"coordinates_bbox", "objects_bbox"}


@dataclass
class ConversionReport:
    """What a conversion did: the folder's info and the keys it dropped on purpose."""

    info: ModelInfo
    ema_used: bool
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count


def family_of(config: OriginalConfig) -> str:
    """Which LDM Studio family an original config is; ConversionError for other conditioning."""
    cond = config.cond_stage
    if cond is None:
        spec = family_for_original(None, None)
        if spec is None:
            raise ConversionError(config.path, "unsupported: no family converts unconditional models")
        return spec.name
    if config.cond_stage_key in LAYOUT_KEYS:
        raise ConversionError(
            config.path,
            f"unsupported: a layout-to-image model (cond_stage_key {config.cond_stage_key}); it needs the "
            "bounding-box tokenizer of its OpenImages data pipeline (object classes and box coordinates as tokens), "
            "which LDM Studio does not have",
        )
    if cond.target == IDENTITY and config.conditioning_key == "crossattn":
        raise ConversionError(
            config.path,
            "unsupported: a retrieval-augmented model (cond_stage_config torch.nn.Identity with crossattn); it needs "
            "CLIP image embeddings of nearest neighbours from a retrieval database (and CLIP), which LDM Studio "
            "does not have",
        )
    spec = family_for_original(cond.target, config.conditioning_key)
    if spec is None:
        raise ConversionError(
            config.path,
            f"unsupported setting cond_stage_config.target {cond.target} with conditioning_key "
            f"{config.conditioning_key!r}",
        )
    return spec.name


def convert_checkpoint(
    config_path: str | Path,
    checkpoint_path: str | Path,
    out: str | Path,
    *,
    tokenizer: str | Path | None = None,
    progress: ProgressFn | None = None,
    name: str | None = None,
    overwrite: bool = False,
    sha256: dict[str, str] | None = None,
    weights: str = "auto",
) -> ConversionReport:
    """Convert and write the model folder `out`; returns what was done. Nothing is left at `out` on error.

    `sha256` may carry the files' hashes ("checkpoint", "config") when the caller has them already.
    `weights`: "auto" samples as the original code does (the EMA U-Net when the config's
    `use_ema` is on and the checkpoint has one, else the raw weights); "ema" or "raw" force it.
    """
    if weights not in WEIGHT_CHOICES:
        raise ValueError(f"weights must be one of {WEIGHT_CHOICES}, not {weights!r}")
    report = progress or (lambda _msg, _frac: None)
    config_file, ckpt_file, target = Path(config_path).expanduser(), Path(checkpoint_path).expanduser(), Path(out)
    report("reading config", 0.0)
    config = read_config(config_file)
    family = family_of(config)
    hook = _hook(family)
    unet_layout = unet.read_layout(config.unet, config_file)
    ae_layout = autoencoder.read_layout(config.first_stage, config_file)
    _check_architecture(config, family, hook, unet_layout, ae_layout)
    sanity.check_unet_layout(config_file, unet_layout)
    tokenizer_obj = (tokenizer, _load_tokenizer(tokenizer, config_file)) if hook.needs_tokenizer else None
    _check_out(target, overwrite)

    report("reading checkpoint", 0.05)
    ckpt = read_checkpoint(ckpt_file)
    groups, scale_factor, ema_used, dropped = _split(ckpt.state_dict, config, ckpt_file, weights)
    _check_schedule(ckpt.state_dict, config, ckpt_file)
    sanity.check_unet_against_weights(ckpt_file, config_file, unet_layout, groups["unet"])

    report("converting U-Net", 0.3)
    unet_model = unet.build_unet(unet_layout)
    keys = KeyMap(groups["unet"], "U-Net", ckpt_file)
    unet.map_keys(keys, unet_layout)
    keys.finish(unet_model)

    report("converting autoencoder", 0.55)
    ae_model = autoencoder.build_autoencoder(ae_layout, scale_factor)
    keys = KeyMap(groups["first_stage"], "first stage", ckpt_file)
    autoencoder.map_keys(keys, ae_layout)
    keys.finish(ae_model)

    report("converting conditioning", 0.7)
    parts: dict[str, Any] = {"unet": unet_model, ae_layout.folder: ae_model, "scheduler": make_scheduler(config)}
    writers = {folder: part.save_pretrained for folder, part in parts.items()}
    if hook.convert_cond_stage is not None:
        converted = hook.convert_cond_stage(config, groups["cond_stage"], ckpt_file, tokenizer_obj)
    elif groups["cond_stage"]:
        raise ConversionError(ckpt_file, "holds conditioning weights, but the config has no conditioning stage")
    else:
        converted = CondStageResult()
    writers.update(converted.writers)

    report("writing model folder", 0.8)
    staging = _staging_folder(target)
    try:
        for folder, write in writers.items():
            write(staging / folder)
        info = ModelInfo(
            path=target,
            family=family,
            name=name or (ckpt_file.parent.name if ckpt_file.stem in ("model", "last") else ckpt_file.stem),
            resolution=(config.image_size or unet_layout.sample_size) * ae_layout.factor,
            latent_factor=ae_layout.factor,
            latent_channels=ae_layout.embed_dim,
            scale_factor=scale_factor,
            autoencoder=ae_layout.folder,
            autoencoder_kind=ae_layout.kind,
            defaults=converted.defaults or get_spec(family).defaults,
            provenance={
                "converted_by": f"ldm-studio {__version__}",
                "checkpoint": ckpt_file.name,
                "checkpoint_sha256": (sha256 or {}).get("checkpoint") or file_sha256(ckpt_file),
                "config": config_file.name,
                "config_sha256": (sha256 or {}).get("config") or file_sha256(config_file),
                "ema_used": ema_used,
                "global_step": ckpt.global_step,
                "read_with": ckpt.method,
                "not_loaded_objects": ckpt.replaced,
                "dropped_keys": dropped,
                "beta_schedule": {"linear_start": config.linear_start, "linear_end": config.linear_end},
            },
            **converted.info,
        )
        write_model_info(_at(info, staging))
        _replace_folder(staging, target)
    except OSError as exc:  # a full disk, a folder gone read-only: one line, and nothing half-written left
        shutil.rmtree(staging, ignore_errors=True)
        raise ConversionError(target, f"cannot write the model folder ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report("done", 1.0)
    return ConversionReport(info, ema_used, dropped)


MODEL_FOLDER_MARKERS = ("ldm_studio.json", "model_index.json")


def _check_out(target: Path, overwrite: bool) -> None:
    """Refuse an `--out` that is a file, holds something other than a model, or cannot be written, before work."""
    if target.exists() and not target.is_dir():
        raise ConversionError(target, "is a file, not a folder (choose another --out)")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise ConversionError(target, "exists and is not empty (choose another --out)")
        if not any((target / marker).is_file() for marker in MODEL_FOLDER_MARKERS):
            # --overwrite replaces a model folder; a folder of other files (a thesis, notes) is never deleted
            raise ConversionError(
                target, "is not a model folder (no ldm_studio.json or model_index.json); --overwrite replaces only one"
            )
    shutil.rmtree(_staging_folder(target))  # proves the parent is writable before the slow work


def _staging_folder(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    except OSError as exc:
        raise ConversionError(target, f"cannot write the model folder there ({exc.strerror or exc})") from None


def _replace_folder(staging: Path, target: Path) -> None:
    """Move the finished folder into place; an old model folder is renamed aside first and removed last."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-replaced-{staging.name[-8:]}")
        target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def make_scheduler(config: OriginalConfig) -> DDIMScheduler:
    """The original DDIM sampler on the config's schedule (scaled_linear = LDM's "linear")."""
    return compvis_ddim(config.linear_start, config.linear_end, config.timesteps)


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _at(info: ModelInfo, folder: Path) -> ModelInfo:
    return replace(info, path=folder)


def _hook(family: str) -> ConverterHook:
    hook = get_spec(family).converter
    assert hook is not None  # family_of only returns families with a converter
    return hook


def get_spec(family: str) -> FamilySpec:
    spec = get_family(family)
    assert spec is not None
    return spec


def _check_architecture(
    config: OriginalConfig, family: str, hook: ConverterHook, u: unet.UNetLayout, a: autoencoder.AutoencoderLayout
) -> None:
    """What every family's U-Net must fit: cross-attention or not, the latent plus the family's concat channels."""
    file = config.path
    if hook.cross_attention and not u.spatial_transformer:
        raise ConversionError(file, f"unsupported: a {family} model whose U-Net has no cross-attention")
    if not hook.cross_attention and u.spatial_transformer:
        raise ConversionError(file, f"unsupported: a {family} model with a cross-attention U-Net")
    if u.out_channels != a.embed_dim:
        raise ConversionError(file, f"the U-Net predicts {u.out_channels} channels, the latent has {a.embed_dim}")
    if hook.check is not None:
        hook.check(config, u)
    extra = hook.concat_channels(config, a)
    if u.in_channels != a.embed_dim + extra:
        what = f"latent + {hook.concat_name} = {a.embed_dim + extra}" if extra else f"the latent's {a.embed_dim}"
        raise ConversionError(file, f"the U-Net takes {u.in_channels} channels, expected {what}")


def _split(
    state: dict[str, torch.Tensor], config: OriginalConfig, file: Path, weights: str = "auto"
) -> tuple[dict[str, dict[str, torch.Tensor]], float, bool, dict[str, int]]:
    """Group keys by component; choose EMA or raw U-Net weights (see `convert_checkpoint`).

    Unknown keys are an error; unused weights are accounted for in `dropped`."""
    groups: dict[str, dict[str, torch.Tensor]] = {"unet": {}, "first_stage": {}, "cond_stage": {}}
    ema: dict[str, torch.Tensor] = {}
    dropped: dict[str, int] = {}
    unknown: list[str] = []
    scale_factor = config.scale_factor
    for key, tensor in state.items():
        if key.startswith(UNET_PREFIX):
            groups["unet"][key[len(UNET_PREFIX) :]] = tensor
        elif key.startswith(FIRST_STAGE_PREFIX):
            rest = key[len(FIRST_STAGE_PREFIX) :]
            if rest.startswith("loss."):
                dropped["first-stage training loss"] = dropped.get("first-stage training loss", 0) + 1
            else:
                groups["first_stage"][rest] = tensor
        elif key.startswith(COND_STAGE_PREFIX):
            groups["cond_stage"][key[len(COND_STAGE_PREFIX) :]] = tensor
        elif key in SCHEDULE_BUFFERS or key in OTHER_BUFFERS:
            dropped["schedule and EMA bookkeeping buffers"] = dropped.get("schedule and EMA bookkeeping buffers", 0) + 1
        elif key.startswith(EMA_PREFIX):
            ema[key[len(EMA_PREFIX) :]] = tensor
        elif key == "scale_factor":
            # A buffer only with scale_by_std (ddpm.py registers it then, and the loaded value wins);
            # otherwise the original ignores such a key and uses the config's scale_factor.
            if config.scale_by_std:
                scale_factor = float(tensor.reshape(-1)[0])
            else:
                dropped["scale_factor key (config has scale_by_std: False)"] = 1
        else:
            unknown.append(key)
    if config.cond_stage is not None and config.cond_stage.target == FIRST_STAGE_COND and groups["cond_stage"]:
        # cond_stage_model *is* first_stage_model there: the checkpoint holds its weights twice.
        copy = groups.pop("cond_stage")
        groups["cond_stage"] = {}
        first = groups["first_stage"]
        same = {k for k, v in copy.items() if k.startswith("loss.") or (k in first and torch.equal(v, first[k]))}
        differ = sorted(set(copy) - same)
        if differ:
            raise ConversionError(
                file, f"cond_stage_model.{differ[0]} differs from first_stage_model (__is_first_stage__)"
            )
        dropped["cond_stage_model.* (a copy of the first stage)"] = len(copy)
    if unknown:
        raise ConversionError(file, f"{len(unknown)} key(s) of no known component: {', '.join(sorted(unknown)[:8])}")
    if not groups["unet"]:
        raise ConversionError(file, f"holds no U-Net weights ({UNET_PREFIX}*): is it a latent-diffusion checkpoint?")
    if not groups["first_stage"]:
        raise ConversionError(file, f"holds no first-stage weights ({FIRST_STAGE_PREFIX}*)")
    ema_used = False
    if weights == "ema" and not ema:
        raise ConversionError(file, "holds no EMA weights (model_ema.*): convert with weights 'raw' or 'auto'")
    use_ema = bool(ema) and (weights == "ema" or (weights == "auto" and config.use_ema))
    if ema and not use_ema:
        reason = "weights 'raw' asked for" if weights == "raw" else "config has use_ema: False"
        dropped[f"EMA U-Net weights ({reason})"] = len(ema)
    if use_ema:
        by_flat = {("diffusion_model." + k).replace(".", ""): k for k in groups["unet"]}
        missing = [k for flat, k in by_flat.items() if flat not in ema]
        extra = sorted(set(ema) - set(by_flat))
        if extra:
            raise ConversionError(file, f"EMA weights with no U-Net parameter: {', '.join(extra[:8])}")
        if missing:
            raise ConversionError(file, f"EMA weights lack {len(missing)} U-Net parameter(s): {', '.join(missing[:8])}")
        dropped["raw (non-EMA) U-Net weights"] = len(groups["unet"])
        groups["unet"] = {k: ema[flat] for flat, k in by_flat.items()}
        ema_used = True
    if scale_factor <= 0:
        raise ConversionError(file, f"scale_factor {scale_factor} must be positive")
    return groups, scale_factor, ema_used, dropped


def _check_schedule(state: dict[str, torch.Tensor], config: OriginalConfig, file: Path) -> None:
    """The stored betas must be the config's linear schedule (otherwise DDIM would sample wrongly)."""
    betas = state.get("betas")
    if betas is None:
        return
    expected = (
        torch.linspace(config.linear_start**0.5, config.linear_end**0.5, config.timesteps, dtype=torch.float64) ** 2
    )
    if betas.shape != expected.shape or not torch.allclose(betas.double(), expected, rtol=1e-5, atol=1e-8):
        raise ConversionError(
            file, "its stored betas do not match linear_start/linear_end/timesteps of the config (another schedule?)"
        )


def _load_tokenizer(folder: str | Path | None, config_file: Path) -> Any:
    if folder is None:
        raise ConversionError(
            config_file,
            "a text model needs the bert-base-uncased tokenizer, which is not downloaded: "
            "pass --tokenizer DIR (a folder with its vocab.txt)",
        )
    from transformers import BertTokenizer

    path = Path(folder).expanduser()
    try:
        if path.is_file():
            return BertTokenizer(str(path))
        return BertTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise ConversionError(path, f"is not a BERT tokenizer folder ({exc})") from None
