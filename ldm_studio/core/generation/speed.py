"""Speed and memory options of a loaded model: compile, memory format, VAE tiling/slicing, CPU offload, VAE.

Applied once after loading (`apply_speed_options`), each reported in one line so the CLI and the
window can say what is in effect:

- `compile`: `torch.compile` of the U-Net (off by default: the first call compiles, which takes
  long; the warm-up that pays it at load is timed and reported separately). `compile_backend`
  "eager" runs the same graph capture without code generation (tests, debugging).
- `channels_last`: the U-Net's and decoder's convolutions in NHWC, which cuDNN's fp16 kernels
  prefer; None means on CUDA only (measured on the CPU: docs/benchmarks.md; unmeasured on a GPU).
- `vae_tiling` / `vae_slicing`: decode large images in overlapping tiles / a batch one image at a
  time (diffusers' own AutoencoderKL switches), for sizes that do not fit the GPU's memory.
- `offload="model"`: low-VRAM GPUs: every part (text encoders, U-Net, autoencoder) waits in CPU
  memory and moves to the GPU when it runs, the previous part moving back (accelerate's hooks,
  as diffusers' `enable_model_cpu_offload`).
- `vae`: an installed replacement VAE component by name; by default a model whose family decodes
  in fp32 when sampling in fp16 (`upcast_vae_in_fp16`: the SDXL VAE overflows to black images)
  uses an installed fp16-fix VAE of its family, or else decodes in fp32.

Attention is PyTorch's scaled-dot-product attention (diffusers' `AttnProcessor2_0`, its default on
torch 2); `attention_backend` says which processor a U-Net uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ldm_studio.core.errors import LdmStudioError

if TYPE_CHECKING:
    from ldm_studio.core.families.base import LatentDiffusionModel

OFFLOAD_MODES = ("none", "model")


@dataclass(frozen=True)
class SpeedOptions:
    """What to apply to a loaded model; the defaults change nothing on the CPU."""

    compile: bool = False
    compile_backend: str = "inductor"
    compile_mode: str | None = None  # torch.compile's mode ("reduce-overhead", "max-autotune"), None: default
    channels_last: bool | None = None  # None: on CUDA only
    vae_tiling: bool = False
    vae_slicing: bool = False
    offload: str = "none"  # one of OFFLOAD_MODES
    vae: str | None = None  # an installed "vae" component of the model's family, by name
    warm_up: bool = True  # with compile: compile at load (timed), not in the first job

    def __post_init__(self) -> None:
        if self.offload not in OFFLOAD_MODES:
            raise LdmStudioError(f"--offload: unknown mode {self.offload!r}; choose one of {', '.join(OFFLOAD_MODES)}")


def apply_speed_options(model: LatentDiffusionModel, options: SpeedOptions) -> list[str]:
    """Apply `options` to a freshly loaded model; returns one line per thing applied (for the log)."""
    notes = [f"attention: {attention_backend(model.unet)}"]
    notes += _choose_vae(model, options)
    if options.channels_last if options.channels_last is not None else model.device.type == "cuda":
        for module in (model.unet, model.autoencoder):  # Module.to takes memory_format; its stubs do not say so
            module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        notes.append("memory format: channels_last (U-Net and autoencoder)")
    for wanted, switch, what in (
        (options.vae_tiling, "enable_tiling", "VAE tiling"),
        (options.vae_slicing, "enable_slicing", "VAE slicing"),
    ):
        if not wanted:
            continue
        if hasattr(model.autoencoder, switch):
            getattr(model.autoencoder, switch)()
            notes.append(f"{what}: on")
        else:
            notes.append(f"{what}: not available for a {type(model.autoencoder).__name__}")
    if options.offload == "model":
        notes.append(enable_model_offload(model))
    if options.compile:
        notes.append(compile_unet(model, options))
    return notes


def _choose_vae(model: LatentDiffusionModel, options: SpeedOptions) -> list[str]:
    """The replacement VAE asked for, else the fp16-fix one where the family's VAE must not decode in
    fp16, else that VAE upcast to fp32 (no black images either way)."""
    from ldm_studio.core.models.components import find_component, installed_components

    family = model.info.family
    force = getattr(model.autoencoder.config, "force_upcast", True)  # a fp16-fix VAE in the folder says False
    upcast = model.dtype == torch.float16 and model.upcast_vae_in_fp16 and bool(force)
    if options.vae is not None:
        component = find_component(family, "vae", options.vae)
    elif upcast:
        component = next(iter(installed_components(family, "vae")), None)
    else:
        return []
    if component is not None:
        replace_vae(model, component.folder)
        return [f"VAE: {component.name} (installed component)"]
    model.autoencoder.to(torch.float32)
    return ["VAE: decodes in fp32 (in fp16 it overflows to black images; a fp16-fix VAE component avoids that)"]


def replace_vae(model: LatentDiffusionModel, folder: Any) -> None:
    """Load the AutoencoderKL in `folder` as the model's first stage; it must share latent channels and scale."""
    from diffusers import AutoencoderKL

    from ldm_studio.core.errors import ModelFolderError
    from ldm_studio.core.families.base import load_component

    vae = load_component(AutoencoderKL, folder, model.choice)
    channels, scale = vae.config.latent_channels, vae.config.scaling_factor
    if channels != model.info.latent_channels or abs(scale - model.info.scale_factor) > 1e-6:
        raise ModelFolderError(
            folder,
            f"this VAE has {channels} latent channels and scale {scale}; {model.info.name} needs "
            f"{model.info.latent_channels} and {model.info.scale_factor}",
        )
    model.autoencoder = vae


def attention_backend(unet: torch.nn.Module) -> str:
    """The attention processors a U-Net uses, in words ("PyTorch SDPA" when all are AttnProcessor2_0)."""
    processors = getattr(unet, "attn_processors", None)
    if not processors:
        return "none (no attention layers)" if processors is not None else "unknown"
    names = sorted({type(p).__name__ for p in processors.values()})
    if names == ["AttnProcessor2_0"]:
        return "PyTorch SDPA (scaled_dot_product_attention)"
    return ", ".join(names)


def compile_unet(model: LatentDiffusionModel, options: SpeedOptions) -> str:
    """`torch.compile` the U-Net in place (its attributes and config stay reachable), then warm it up."""
    kwargs: dict[str, Any] = {"backend": options.compile_backend}
    if options.compile_mode:
        kwargs["mode"] = options.compile_mode
    model.unet.compile(**kwargs)
    if not options.warm_up:
        return f"U-Net compiled (torch.compile, backend {options.compile_backend}); compiles in the first step"
    start = time.perf_counter()
    warm_up_guided(model)
    seconds = time.perf_counter() - start
    return f"U-Net compiled (torch.compile, backend {options.compile_backend}), warm-up {seconds:.1f} s"


@torch.no_grad()
def warm_up_guided(model: LatentDiffusionModel) -> None:
    """One U-Net call shaped as a job's first step: the model's resolution, the guided batch of two
    (one image's [uncond, cond]), so the compiled graph is the one the job runs, not a recompile."""
    from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings

    guided = model.has_unconditional
    side = model.info.resolution
    settings = SamplerSettings(steps=1, guidance=2.0 if guided else 1.0, width=side, height=side)
    request = GenerationRequest(model.default_condition(), settings)
    cond = model.encode(request.condition, 1, guided, request).batch(guided)
    x = torch.zeros((2 if guided else 1, *model.latent_shape(request)), device=model.device, dtype=model.dtype)
    model.predict_noise(x, torch.tensor(999, device=model.device), cond)


def is_compiled(module: torch.nn.Module) -> bool:
    """Whether `compile_unet` compiled this module (nn.Module.compile keeps the compiled call on it)."""
    return getattr(module, "_compiled_call_impl", None) is not None


def offload_parts(model: LatentDiffusionModel) -> list[torch.nn.Module]:
    """The model's parts in the order a job uses them: conditioning encoders, U-Net, autoencoder.

    Encoders are found generically: modules held by the model, or by an object the model holds
    (a `ClipTextEncoder`'s `.model`), so no family needs to list them."""
    late = [model.unet, model.autoencoder]
    parts: list[torch.nn.Module] = []
    for value in vars(model).values():
        candidates = [value] if isinstance(value, torch.nn.Module) else list(getattr(value, "__dict__", {}).values())
        for module in candidates:
            if isinstance(module, torch.nn.Module) and all(module is not p for p in [*parts, *late]):
                parts.append(module)
    return parts + late


def enable_model_offload(model: LatentDiffusionModel, execution_device: torch.device | None = None) -> str:
    """Parts wait in CPU memory and move to the device when called (chained: the previous goes back)."""
    from accelerate import cpu_offload_with_hook

    device = execution_device or model.device
    hook = None
    hooks = []
    parts = offload_parts(model)
    for part in parts:
        _, hook = cpu_offload_with_hook(part, device, prev_module_hook=hook)
        hooks.append(hook)
    model.__dict__["offload_hooks"] = hooks
    return f"model CPU offload: {len(parts)} parts move to {device} only while they run"
