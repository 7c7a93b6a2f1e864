"""What every model family shares: the U-Net call, guidance batching and the first stage.

A family differs only in how it loads its conditioning encoder and turns a condition into
tensors (`encode`). The sampling loop talks to every family through `LatentDiffusionModel`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ldm_studio.core.errors import ModelFolderError
from ldm_studio.core.lazy_torch import no_grad
from ldm_studio.core.models.model_folder import ModelInfo, read_json

if TYPE_CHECKING:  # torch and diffusers are imported where they run: the registry must load without them
    import torch
    from diffusers import AutoencoderKL, VQModel

    from ldm_studio.core.generation.device import DeviceChoice
    from ldm_studio.core.generation.previews import LinearPreview
    from ldm_studio.core.generation.requests import Condition, GenerationRequest

ProgressFn = Callable[[str, float], None]


@dataclass
class ConditionTensors:
    """The U-Net's conditioning for a batch: cross-attention context, concatenated maps, extra inputs.

    `extra` holds further batched U-Net inputs a family needs (pooled text embeddings, added
    time ids, a ControlNet's control image …); the family's `unet_kwargs` turns them into
    keyword arguments of its U-Net call, so the sampling loop never needs to know them.
    `step` is (index, total) of the step the U-Net is called for, set by the loop: inputs that
    act on part of the schedule only (a ControlNet's start/end) read it.
    """

    context: torch.Tensor | None = None  # (B, L, D), for cross-attention
    concat: torch.Tensor | None = None  # (B, C, h, w), concatenated after the latent
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # (B, ...) each
    step: tuple[int, int] | None = None

    def cat(self, other: ConditionTensors) -> ConditionTensors:
        """`self` then `other` along the batch: guidance batches [uncond, cond]."""
        import torch

        extra = {key: torch.cat([value, other.extra[key]]) for key, value in self.extra.items() if key in other.extra}
        return ConditionTensors(_cat(self.context, other.context), _cat(self.concat, other.concat), extra, self.step)

    def rows(self, index: list[int]) -> ConditionTensors:
        """The batch rows `index` (one image's share of a guided batch)."""
        return ConditionTensors(
            None if self.context is None else self.context[index],
            None if self.concat is None else self.concat[index],
            {key: value[index] for key, value in self.extra.items()},
            self.step,
        )

    def at_step(self, index: int, total: int) -> ConditionTensors:
        """The same tensors for step `index` of `total` (no copy of any tensor)."""
        return ConditionTensors(self.context, self.concat, self.extra, (index, total))


@dataclass
class Conditioning:
    """Conditional tensors and, when the model has one, the unconditional input for guidance."""

    cond: ConditionTensors
    uncond: ConditionTensors | None = None

    def batch(self, guided: bool) -> ConditionTensors:
        if not guided:
            return self.cond
        assert self.uncond is not None
        return self.uncond.cat(self.cond)


def region_kwargs(cond: ConditionTensors) -> dict[str, Any]:
    """`cross_attention_kwargs` carrying the region masks, when the conditioning has region prompts."""
    if "region_tokens" not in cond.extra:
        return {}
    from ldm_studio.core.generation.regions import region_kwargs as kwargs

    return kwargs(cond)


def _cat(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    if a is None or b is None:
        return None
    import torch

    return torch.cat([a, b])


class LatentDiffusionModel:
    """A loaded LDM: U-Net, first-stage autoencoder, scheduler config, conditioning encoder."""

    family: ClassVar[str] = ""
    # the first stage overflows in fp16 (black images): decode in fp32 or with a fp16-fix VAE (core.generation.speed)
    upcast_vae_in_fp16: ClassVar[bool] = False
    linear_preview: LinearPreview | None = None  # the cheap preview's projection, once fitted or read

    def __init__(
        self,
        info: ModelInfo,
        unet: torch.nn.Module,
        autoencoder: AutoencoderKL | VQModel,
        scheduler_config: dict[str, Any],
        choice: DeviceChoice,
    ) -> None:
        self.info = info
        self.unet = unet
        self.autoencoder = autoencoder
        self.scheduler_config = scheduler_config
        self.choice = choice

    # --- what families provide -------------------------------------------------------------

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> LatentDiffusionModel:
        raise NotImplementedError

    @classmethod
    def load_plain(
        cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None, extra: int = 0, what: str = ""
    ) -> Any:
        """`load` of a family whose conditioning has no weights of its own (uncond, superres, inpaint):
        its plain U-Net, which must take the latent plus `extra` channels (`what` names them), and its
        first stage."""
        from ldm_studio.core.families.loading import load_unet

        report = progress or (lambda _msg, _frac: None)
        report("U-Net", 0.0)
        unet = load_unet(info, choice, ("UNet2DModel",))
        expected = info.latent_channels + extra
        if unet.config.in_channels != expected:
            wanted = f"latent + {what} = {expected}" if extra else f"the latent's {expected}"
            raise ModelFolderError(info.path / "unet", f"in_channels is {unet.config.in_channels}, expected {wanted}")
        report("autoencoder", 0.7)
        autoencoder = load_autoencoder(info, choice)
        report("ready", 1.0)
        return cls(info, unet, autoencoder, load_scheduler_config(info), choice)

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        """Condition → tensors for a batch; `uncond` only when `guided`.

        `request` gives the image size, which spatial conditioning (maps) needs.
        """
        raise NotImplementedError

    def default_condition(self) -> Condition:
        """A neutral input of the family's kind (warm-up, first run of the window)."""
        raise NotImplementedError

    @property
    def has_unconditional(self) -> bool:
        """Whether classifier-free guidance is possible (the model has an unconditional input)."""
        return True

    # --- shared ----------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.choice.device

    @property
    def dtype(self) -> torch.dtype:
        return self.choice.dtype

    @property
    def vae_dtype(self) -> torch.dtype:
        """The first stage's dtype: the model's, or fp32 where it is upcast (see `upcast_vae_in_fp16`)."""
        return next(self.autoencoder.parameters()).dtype

    def latent_shape(self, request: GenerationRequest) -> tuple[int, int, int]:
        f = self.info.latent_factor
        return (self.info.latent_channels, request.settings.height // f, request.settings.width // f)

    @property
    def batch_invariant(self) -> bool:
        """Run the U-Net and the decoder image by image, so image i never depends on the batch.

        On the CPU, kernels pick their blocking by batch size, so a batch of 3 and a single
        image differ in the last bits (seen: 1.4e-5 in the latents, one grey level in the
        PNG). Recipes, resumed batches and batch workers promise that image i of a batch is
        remade exactly by seed + i alone, so on the CPU each image runs on its own; batching
        buys little there. GPUs keep the whole batch.
        """
        return self.device.type == "cpu"

    def attention_modules(self) -> list[torch.nn.Module]:
        """The modules whose attention layers see the cross-attention context (the U-Net; a family
        that runs a ControlNet on the same context adds it): region prompts wrap their processors."""
        from ldm_studio.core.families.controlnet import loaded_controlnet

        net = loaded_controlnet(self)
        return [self.unet] if net is None else [self.unet, net]

    def region_context(self, text: str) -> torch.Tensor:
        """(1, L, D) cross-attention tokens of a region's text, in the context's feature space
        (families that take region prompts, `FamilySpec.regions`)."""
        raise NotImplementedError(f"the {self.family!r} family takes no region prompts")

    def unet_kwargs(self, latents: torch.Tensor, timestep: torch.Tensor, cond: ConditionTensors) -> dict[str, Any]:
        """Keyword arguments of the U-Net call beyond sample and timestep (the family's seam)."""
        if cond.context is None:
            return {}
        return {"encoder_hidden_states": cond.context, **region_kwargs(cond)}

    @no_grad
    def predict_noise(self, latents: torch.Tensor, timestep: torch.Tensor, cond: ConditionTensors) -> torch.Tensor:
        """The U-Net's output for (already scheduler-scaled) latents; concat maps go after them."""
        import torch

        x = latents if cond.concat is None else torch.cat([latents, cond.concat], dim=1)
        kwargs = self.unet_kwargs(latents, timestep, cond)
        if cond.extra.get("controlnet_cond") is not None:  # a ControlNet adds its residuals (families/controlnet.py)
            from ldm_studio.core.families.controlnet import control_residuals

            kwargs.update(control_residuals(self, x, timestep, cond, kwargs))
        return self.unet(x, timestep, **kwargs).sample

    @no_grad
    def decode(self, latents: torch.Tensor, *, low_memory: bool = False) -> torch.Tensor:
        """Latents (as the U-Net sees them) → images in [0, 1], (B, 3, H, W) float32 on the CPU.

        KL: divide by the scale factor first. VQ: diffusers' VQModel.decode quantises to the
        nearest codebook entry before post_quant_conv, as the original decoder does.
        `low_memory` decodes one image at a time, a KL decoder in tiles (the out-of-memory retry).
        """
        import torch
        from diffusers import AutoencoderKL

        z = latents.to(self.vae_dtype) / self.info.scale_factor
        if not low_memory and self.batch_invariant and len(z) > 1:
            return torch.cat([self.decode(one) for one in latents.split(1)])
        if not low_memory:
            return (self.autoencoder.decode(z).sample.float() / 2 + 0.5).clamp(0, 1).cpu()
        tiling = isinstance(self.autoencoder, AutoencoderKL) and not self.autoencoder.use_tiling
        if tiling:
            self.autoencoder.enable_tiling()
        try:
            parts = [self.autoencoder.decode(one).sample.float().cpu() for one in z.split(1)]
        finally:
            if tiling:  # only what this retry switched on (a --vae-tiling model keeps its tiling)
                self.autoencoder.disable_tiling()
        return (torch.cat(parts) / 2 + 0.5).clamp(0, 1)

    def finish(self, images: torch.Tensor, request: GenerationRequest) -> torch.Tensor:
        """Decoded images (B, 3, H, W) in [0, 1] → what is written: with a masked image-to-image
        start, the composite that keeps the unmasked pixels of the input exactly."""
        init = request.init
        if init is None or init.mask is None:
            return images
        from ldm_studio.core.generation.img2img import composite

        return composite(images, init.image, init.mask, init.feather)

    @no_grad
    def encode_images(self, images: torch.Tensor, posterior_noise: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1] → latents as the U-Net sees them.

        KL: the posterior mean × scale, or with `posterior_noise` (B, C, h, w) a sample
        mean + std · noise per row (broadcast over one picture), as diffusers' pipelines draw it
        (`latent_dist.sample`).
        VQ: the encoder's latents (not quantised); there is no posterior to sample."""
        from diffusers import AutoencoderKL

        x = images.to(self.device, self.vae_dtype)
        if isinstance(self.autoencoder, AutoencoderKL):
            dist = self.autoencoder.encode(x).latent_dist
            z = dist.mean if posterior_noise is None else dist.mean + dist.std * posterior_noise.to(dist.mean)
        else:
            z = self.autoencoder.encode(x).latents  # VQ encoding does not quantise
        return z * self.info.scale_factor

    @property
    def samples_posterior(self) -> bool:
        """Whether encoding a picture draws from a posterior (KL first stages) or is deterministic (VQ)."""
        from diffusers import AutoencoderKL

        return isinstance(self.autoencoder, AutoencoderKL)

    def to_runtime(self, *modules: torch.nn.Module) -> None:
        for module in modules:
            module.to(self.device, self.dtype).eval().requires_grad_(False)


def load_autoencoder(info: ModelInfo, choice: DeviceChoice) -> AutoencoderKL | VQModel:
    from diffusers import AutoencoderKL, VQModel

    folder = info.path / info.autoencoder
    cls = AutoencoderKL if info.autoencoder_kind == "kl" else VQModel
    return load_component(cls, folder, choice)


def load_scheduler_config(info: ModelInfo) -> dict[str, Any]:
    return read_json(info.path / "scheduler" / "scheduler_config.json")


WEIGHT_VARIANTS = ("fp16", "bf16")


def weights_variant(folder: Path) -> str | None:
    """The variant a component folder holds only (a hub download on a GPU fetches `*.fp16.safetensors`),
    or None when plain weights are there."""
    names = [p.name for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    weights = [n for n in names if n.endswith((".safetensors", ".bin")) or ".safetensors.index" in n]
    if not weights or any(n.count(".") == 1 or n.endswith(".safetensors.index.json") for n in weights):
        return None
    for variant in WEIGHT_VARIANTS:
        if any(f".{variant}." in n for n in weights):
            return variant
    return None


def load_component(cls: Any, folder: Path, choice: DeviceChoice, **kwargs: Any) -> Any:
    """diffusers/transformers `from_pretrained` from a local folder, errors naming the folder.

    A folder holding only a variant's weights (`*.fp16.safetensors`) loads that variant. A folder
    with one safetensors file whose keys are the module's is read directly (`fast_load`: the same
    tensors without from_pretrained's fixed cost)."""
    from ldm_studio.core.families.fast_load import load_direct

    variant = weights_variant(folder)
    if variant is not None:
        kwargs.setdefault("variant", variant)
    try:
        model = None if kwargs else load_direct(cls, folder, choice.dtype)
    except Exception:  # a folder it cannot read: from_pretrained reads it again and says why
        model = None
    try:
        if model is None:
            model = cls.from_pretrained(folder, local_files_only=True, torch_dtype=choice.dtype, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFolderError(folder, f"cannot load {cls.__name__}: {first}") from exc
    return model.to(choice.device).eval().requires_grad_(False)
