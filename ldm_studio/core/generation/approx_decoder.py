"""A tiny approximate decoder (TAESD-like): readable previews at a few percent of a sampling step.

The linear projection (core.previews) maps each latent pixel to one colour, so its preview
is a blurry latent-resolution image. This decoder is a few 3×3 convolutions with nearest
upsampling to the full resolution, plus the linear projection as a bilinearly upscaled skip
path (initialised from the fitted projection, so it starts no worse than it). It is distilled
from the model's own decoder: on latents of calibration images from the model's encoder and
on x0 predictions of a few sampling runs, against the full decode of the same latents.

Weights are cached next to the linear projection (the model folder, else the user cache) as
float16 safetensors with the autoencoder's fingerprint, so a changed autoencoder is not
previewed with a stale decoder. Fitting takes minutes, so it is never done implicitly:
`ldm-studio fit-preview MODEL` does it.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ldm_studio.core.files.store import user_cache_dir
from ldm_studio.core.generation.previews import (
    ChannelPreview,
    LinearPreview,
    _fingerprint,
    calibration_images,
    linear_preview_for,
)

if TYPE_CHECKING:
    from ldm_studio.core.families.base import LatentDiffusionModel
    from ldm_studio.core.generation.taesd import TaesdPreview

DECODER_FILE = "preview_decoder.safetensors"
WIDTH = 32  # feature channels: ~23k parameters, ~45 KB as float16


class TinyDecoder(nn.Module):
    """Latents (B, C, h, w) → images (B, 3, h·f, w·f) in [-1, 1] (unclamped)."""

    def __init__(self, channels: int, factor: int, width: int = WIDTH) -> None:
        super().__init__()
        self.channels, self.factor, self.width = channels, factor, width
        stages = max(round(math.log2(factor)), 0) if factor > 1 else 0
        # the last upsampling is a pixel shuffle (a conv at half resolution giving 3×4 channels): no
        # convolution runs at full resolution, where most of the cost would be
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.SiLU()]
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.SiLU()]
        for _ in range(stages - 1):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width, 3, padding=1), nn.SiLU()]
        if stages:
            layers += [nn.Conv2d(width, 3 * 4, 3, padding=1), nn.PixelShuffle(2)]
        else:
            layers.append(nn.Conv2d(width, 3, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.linear = nn.Conv2d(channels, 3, 1)  # the linear projection, upscaled bilinearly and added
        last = self.body[-2] if stages else self.body[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.zeros_(last.weight)
        assert last.bias is not None
        nn.init.zeros_(last.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        size = (z.shape[-2] * self.factor, z.shape[-1] * self.factor)
        skip = F.interpolate(self.linear(z), size=size, mode="bilinear", align_corners=False)
        out = self.body(z)
        if out.shape[-2:] != size:  # a factor that is not a power of two
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out + skip

    def init_linear(self, weights: np.ndarray) -> None:
        """Start the skip path at the fitted linear projection ((C + 1, 3), image units [-1, 1])."""
        w = torch.as_tensor(weights, dtype=torch.float32)
        with torch.no_grad():
            self.linear.weight.copy_(w[:-1].T[:, :, None, None])
            assert self.linear.bias is not None
            self.linear.bias.copy_(w[-1])


@dataclass
class ApproxDecoder:
    """A fitted tiny decoder ready to preview; `heldout_psnr_db` is its fit's figure on held-out latents."""

    net: TinyDecoder
    heldout_psnr_db: float = float("nan")

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) latents → (B, 3, H, W) float images in [0, 1] on the CPU."""
        z = latents.detach().to("cpu", torch.float32)
        return (self.net(z) / 2 + 0.5).clamp_(0, 1)

    def project(self, latents: torch.Tensor) -> np.ndarray:
        """(B, C, h, w) latents → (B, H, W, 3) uint8, like the other previews."""
        return (self.decode(latents).permute(0, 2, 3, 1) * 255).round_().to(torch.uint8).numpy()

    def save(self, path: Path, fingerprint: str) -> None:
        from safetensors.torch import save_file

        tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in self.net.state_dict().items()}
        meta = {
            "fingerprint": fingerprint,
            "channels": str(self.net.channels),
            "factor": str(self.net.factor),
            "width": str(self.net.width),
            "heldout_psnr_db": f"{self.heldout_psnr_db:.2f}",
        }
        tmp = path.with_name(path.name + ".tmp")
        save_file(tensors, str(tmp), metadata=meta)
        tmp.chmod(0o644)  # safetensors writes 0600: the file is shipped with (or shared like) the model
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, fingerprint: str | None = None) -> ApproxDecoder:
        """Read a saved decoder; ValueError (naming the file) when it is not one or is stale."""
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
                tensors = {key: handle.get_tensor(key).float() for key in handle.keys()}  # noqa: SIM118 (a safe_open handle, not a dict)
            if fingerprint is not None and meta.get("fingerprint") != fingerprint:
                raise ValueError(f"{path}: fitted for another autoencoder (fingerprint differs)")
            net = TinyDecoder(int(meta["channels"]), int(meta["factor"]), int(meta["width"]))
            net.load_state_dict(tensors)
        except (KeyError, RuntimeError, OSError, SafetensorError) as exc:
            raise ValueError(f"{path}: not a preview decoder ({exc})") from exc
        return cls(net.eval().requires_grad_(False), float(meta.get("heldout_psnr_db", "nan")))


def decoder_paths(model: LatentDiffusionModel) -> list[Path]:
    """Where the decoder is cached, in order: the model folder, then the user cache."""
    folder_key = hashlib.sha256(str(model.info.path.resolve()).encode()).hexdigest()[:16]
    return [model.info.path / DECODER_FILE, user_cache_dir() / "previews" / f"{folder_key}.safetensors"]


_UNSET = object()


def approx_decoder_for(model: LatentDiffusionModel) -> ApproxDecoder | None:
    """The model's fitted decoder (kept on the model once read), or None when none is cached."""
    kept = getattr(model, "approx_decoder", _UNSET)  # kept on the loaded model (None: looked, none cached)
    if kept is None or isinstance(kept, ApproxDecoder):
        return kept
    decoder = None
    stamp = _fingerprint(model)
    for path in decoder_paths(model):
        if path.is_file():
            try:
                decoder = ApproxDecoder.load(path, stamp)
                break
            except ValueError:
                continue
    setattr(model, "approx_decoder", decoder)  # noqa: B010 (not a declared attribute of the model)
    return decoder


def save_for(model: LatentDiffusionModel, decoder: ApproxDecoder) -> Path:
    """Cache `decoder` in the model folder, or the user cache when the folder is read-only."""
    stamp = _fingerprint(model)
    error: OSError | None = None
    for path in decoder_paths(model):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            decoder.save(path, stamp)
            setattr(model, "approx_decoder", decoder)  # noqa: B010
            return path
        except OSError as exc:
            error = exc
    raise OSError(f"cannot write the preview decoder: {error}")


# --- distillation --------------------------------------------------------------------------


def scene_images(side: int, count: int, seed: int) -> torch.Tensor:
    """Procedural landscapes (demo.scenes) in [-1, 1] at `side` px: natural-looking calibration images."""
    from ldm_studio.demo.scenes import generate_scenes

    images = torch.from_numpy(generate_scenes(count, seed=seed).images).permute(0, 3, 1, 2).float() / 127.5 - 1
    if images.shape[-1] != side:
        images = F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False)
    return images


def sampled_x0(model: LatentDiffusionModel, runs: int, seed: int, batch: int = 4, every: int = 2) -> torch.Tensor:
    """x0 predictions of every `every`-th step of `runs` sampling runs at the model's default settings."""
    from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings
    from ldm_studio.core.generation.sampling import denoise

    d = model.info.defaults
    side = model.info.resolution
    found = []
    for run in range(runs):
        settings = SamplerSettings(
            sampler=d.sampler, steps=d.steps, guidance=d.guidance, eta=d.eta, seed=seed + run * batch,
            batch_size=batch, width=side, height=side,
        )  # fmt: skip
        for event in denoise(model, GenerationRequest(model.default_condition(), settings)):
            if event.index % every == every - 1 or event.is_last:
                found.append(event.x0.detach().float().cpu())
    return torch.cat(found)


def calibration_latents(model: LatentDiffusionModel, images: int, runs: int, seed: int = 0) -> torch.Tensor:
    """Encoder latents of procedural images (scenes and colour fields) and sampled x0 predictions."""
    f = model.info.latent_factor
    side = model.info.resolution - model.info.resolution % f
    pictures = torch.cat(
        [scene_images(side, images - images // 4, seed), calibration_images(side, images // 4, seed=seed + 1)]
    )
    latents = [model.encode_images(part).float().cpu() for part in pictures.split(16)]
    if runs:
        latents.append(sampled_x0(model, runs, seed))
    return torch.cat(latents)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [0, 1] (over the whole batch)."""
    mse = float(F.mse_loss(a.float(), b.float()))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def _crop(
    z: torch.Tensor, y: torch.Tensor, size: int, f: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random window of latents (size×size) and images (size·f × size·f) for the whole batch."""
    i = int(torch.randint(z.shape[-2] - size + 1, (1,), generator=gen))
    j = int(torch.randint(z.shape[-1] - size + 1, (1,), generator=gen))
    return z[..., i : i + size, j : j + size], y[..., i * f : (i + size) * f, j * f : (j + size) * f]


def decode_all(model: LatentDiffusionModel, latents: torch.Tensor, batch: int = 32) -> torch.Tensor:
    return torch.cat([model.decode(part.to(model.device, model.dtype)) for part in latents.split(batch)])


def distill(
    model: LatentDiffusionModel,
    seconds: float,
    *,
    images: int = 384,
    runs: int = 6,
    seed: int = 0,
    heldout: float = 0.1,
    progress: Callable[[str], None] | None = None,
) -> ApproxDecoder:
    """Fit a TinyDecoder to the model's decoder for about `seconds` of training (plus data preparation)."""
    say = progress or (lambda message: None)
    torch.manual_seed(seed)
    say("encoding calibration images and sampling x0 predictions")
    latents = calibration_latents(model, images, runs, seed)
    say(f"decoding {len(latents)} latents with the full decoder")
    targets = decode_all(model, latents) * 2 - 1  # [-1, 1]
    order = torch.randperm(len(latents), generator=torch.Generator().manual_seed(seed))
    cut = max(int(len(order) * heldout), 1)
    test, train = order[:cut], order[cut:]
    net = TinyDecoder(latents.shape[1], model.info.latent_factor)
    net.init_linear(linear_preview_for(model).weights)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed + 1)
    start, step, batch = time.perf_counter(), 0, 32
    f = model.info.latent_factor
    crop = min(8, latents.shape[-1], latents.shape[-2])  # convolutions are local: train on crops, 4× cheaper
    while time.perf_counter() - start < seconds:
        idx = train[torch.randint(len(train), (batch,), generator=gen)]
        z, y = _crop(latents[idx], targets[idx], crop, f, gen)
        if step % 2:  # horizontal flips: the decoder is (nearly) flip-equivariant
            z, y = z.flip(-1), y.flip(-1)
        loss = F.mse_loss(net(z), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        frac = (time.perf_counter() - start) / max(seconds, 1e-9)
        for group in opt.param_groups:  # cosine decay over the time budget
            group["lr"] = 3e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        if step % 200 == 0:
            say(f"step {step}: loss {loss.item():.5f}")
    net.eval().requires_grad_(False)
    decoder = ApproxDecoder(net)
    decoder.heldout_psnr_db = psnr(decoder.decode(latents[test]), targets[test] / 2 + 0.5)
    say(f"{step} steps; held-out PSNR {decoder.heldout_psnr_db:.2f} dB on {len(test)} latents")
    return decoder


# --- the preview hook ----------------------------------------------------------------------


def upscaled_linear(projection: LinearPreview | ChannelPreview, latents: torch.Tensor, factor: int) -> np.ndarray:
    """The linear projection at full resolution, upscaled bilinearly (not blocky): (B, H, W, 3) uint8."""
    small = projection.project(latents).permute(0, 3, 1, 2).float()
    size = (small.shape[-2] * factor, small.shape[-1] * factor)
    big = F.interpolate(small, size=size, mode="bilinear", align_corners=False)
    return big.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def approx_preview(
    model: LatentDiffusionModel, x0: torch.Tensor, projection: LinearPreview | ChannelPreview | None = None
) -> np.ndarray:
    """The best cheap preview: the approximate decoder when fitted, else the linear projection upscaled smoothly."""
    decoder = approx_decoder_for(model)
    if decoder is not None:
        return decoder.project(x0)
    return upscaled_linear(projection or linear_preview_for(model), x0, model.info.latent_factor)


def preview_source(model: LatentDiffusionModel, tiny: TaesdPreview | None = None, mode: str = "approx") -> str:
    """Which preview `mode` (PREVIEW_MODES; the default "approx") shows for `model`, in words (the window says it)."""
    if mode in ("linear", "full"):
        return {"linear": "linear projection", "full": f"full decode every {FULL_EVERY} steps"}[mode]
    if tiny is not None:
        return tiny.label
    return "approximate decoder" if approx_decoder_for(model) is not None else "linear projection"


PREVIEW_MODES: dict[str, str] = {
    "approx": "Best cheap preview (TAESD, else approximate decoder, else linear)",
    "taesd": "TAESD tiny autoencoder (when installed; else as above)",
    "linear": "Linear projection",
    "full": "Full decode every 5 steps",
}
FULL_EVERY = 5


def policy_for(mode: str, projection: LinearPreview | None = None, tiny: TaesdPreview | None = None):
    """The PreviewPolicy of a window setting (PREVIEW_MODES); an unknown mode is the default, approx.
    `tiny`: the model's installed TAESD, which "approx" and "taesd" render through."""
    from ldm_studio.core.generation.previews import PreviewPolicy

    if mode == "linear":
        return PreviewPolicy("cheap", projection=projection)
    if mode == "full":
        return PreviewPolicy("full", every=FULL_EVERY)
    return PreviewPolicy("taesd" if mode == "taesd" else "approx", projection=projection, tiny=tiny)
