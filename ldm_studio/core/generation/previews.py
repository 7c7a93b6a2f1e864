"""Latent → RGB previews: a fitted linear projection (cheap) or a full decode (exact, slow).

The projection maps each latent pixel (channels + bias) to RGB. It is fitted by least
squares on latents of calibration images the model's own encoder sees, against those
images average-pooled to latent resolution, so it works for any autoencoder (KL or VQ, any
channel count) without hand-tuned factors. The fit is cached in the model folder (or the user
cache when the folder is read-only).

At the real LDM-256 size the fit took 16.4 s on a CPU, so it never delays opening a model:
`ProjectionFit` encodes one small batch at a time, so the window fits between jobs after the
model is reported loaded, and until then the preview is `ChannelPreview`, a per-channel
false-colour view that needs no fit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F

from ldm_studio.core.files.store import user_cache_dir

if TYPE_CHECKING:
    from ldm_studio.core.families.base import LatentDiffusionModel
    from ldm_studio.core.generation.taesd import TaesdPreview

PREVIEW_FILE = "preview_projection.json"
# approx: the best cheap preview there is (TAESD when installed, else generation.approx_decoder, else smooth
# linear); taesd: TAESD (generation.taesd) when the policy has one, else as approx
PreviewKind = Literal["none", "cheap", "approx", "taesd", "full"]


@dataclass(frozen=True)
class LinearPreview:
    """RGB = [latent channels, 1] @ weights, per latent pixel; values in [-1, 1] image space."""

    weights: np.ndarray  # (C + 1, 3)
    _matrix: torch.Tensor = field(init=False, repr=False, compare=False)  # set in __post_init__
    _offset: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the projection runs every step: keep the matrix as a tensor, in image units [0, 255]
        w = torch.as_tensor(self.weights, dtype=torch.float32) * 127.5
        object.__setattr__(self, "_matrix", w[:-1].contiguous())
        object.__setattr__(self, "_offset", w[-1] + 127.5)

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) latents → (B, h, w, 3) uint8 on the CPU."""
        z = latents.detach().to("cpu", torch.float32).permute(0, 2, 3, 1)
        return (z @ self._matrix + self._offset).clamp_(0, 255).to(torch.uint8)

    def project_on_device(self, latents: torch.Tensor) -> torch.Tensor:
        """As `project`, but computed where the latents are (the result stays there)."""
        z = latents.detach().to(torch.float32).permute(0, 2, 3, 1)
        w, b = self._on(latents.device)
        return (z @ w + b).clamp_(0, 255).to(torch.uint8)

    def _on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The matrix and offset on `device`, moved once (a copy per step could wait for the device)."""
        cache: dict = self.__dict__.setdefault("_device_copies", {})
        if device not in cache:
            cache[device] = (self._matrix.to(device), self._offset.to(device))
        return cache[device]

    def to_json(self) -> dict:
        return {"kind": "linear", "weights": self.weights.tolist()}

    @classmethod
    def from_json(cls, data: dict, channels: int) -> LinearPreview:
        weights = np.asarray(data["weights"], dtype=np.float32)
        if data.get("kind") != "linear" or weights.shape != (channels + 1, 3):
            raise ValueError(f"expected a linear projection of shape {(channels + 1, 3)}")
        return cls(weights)


def calibration_images(size: int, count: int = 24, seed: int = 0) -> torch.Tensor:
    """Images in [-1, 1] that span colours and textures: gradients, colour fields, blobs, noise.

    Procedural, so the fit needs no data set; varied enough that every latent channel moves.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    images = []
    for i in range(count):
        c0, c1, c2 = rng.uniform(-1, 1, (3, 3)).astype(np.float32)
        kind = i % 4
        if kind == 0:  # linear gradient between two colours
            angle = rng.uniform(0, 2 * math.pi)
            t = np.clip(0.5 + (xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle), 0, 1)
            img = c0[:, None, None] * (1 - t) + c1[:, None, None] * t
        elif kind == 1:  # smooth colour field from low-frequency noise
            low = rng.uniform(-1, 1, (3, 4, 4)).astype(np.float32)
            img = F.interpolate(torch.from_numpy(low)[None], size=(size, size), mode="bicubic", align_corners=True)
            img = img[0].numpy()
        elif kind == 2:  # colour blobs on a background
            img = np.broadcast_to(c0[:, None, None], (3, size, size)).copy()
            for _ in range(4):
                cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.1, 0.35)
                mask = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
                img[:, mask] = rng.uniform(-1, 1, (3, 1)).astype(np.float32)
        else:  # texture: a colour plus fine noise
            img = c2[:, None, None] + 0.3 * rng.standard_normal((3, size, size)).astype(np.float32)
        images.append(np.clip(img, -1, 1))
    return torch.from_numpy(np.stack(images)).float()


@dataclass(frozen=True)
class ChannelPreview:
    """The preview before a projection is fitted: latent channels standardised per image and
    spread over R, G, B (channel c feeds colour c mod 3). Structure shows, colours are false."""

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) latents → (B, h, w, 3) uint8 on the CPU."""
        return self.project_on_device(latents.detach().to("cpu"))

    def project_on_device(self, latents: torch.Tensor) -> torch.Tensor:
        """As `project`, computed where the latents are."""
        z = latents.detach().to(torch.float32)
        z = (z - z.mean(dim=(2, 3), keepdim=True)) / (z.std(dim=(2, 3), keepdim=True) + 1e-6)
        mix = _channel_mix(z.shape[1], z.device)
        rgb = z.permute(0, 2, 3, 1) @ mix  # mean of its channels per colour, about unit spread
        return (rgb * 64.0 + 127.5).clamp_(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=8)
def _channel_mix(channels: int, device: torch.device) -> torch.Tensor:
    """(C, 3): channel c feeds colour c mod 3; each colour the mean of its channels. Made once per device."""
    mix = torch.zeros(channels, 3)
    for c in range(channels):
        mix[c, c % 3] = 1.0
    return (mix / mix.sum(dim=0).clamp(min=1.0)).to(device)


# The fit's calibration set: 12 images at 16 latent pixels a side (64 px at f=4, 128 px at f=8)
# fit the demo model as well as the earlier 24 (14.83 dB on held-out images, both) at half the
# cost; 8 images lost 1.2 dB. `python bench/run.py open`, docs/benchmarks.md.
FIT_IMAGES = 12
FIT_LATENT_SIDE = 16
FIT_BATCH = 4


class ProjectionFit:
    """A projection fit done in small pieces: `step()` encodes one batch, `done`, then `result()`."""

    def __init__(self, model: LatentDiffusionModel, count: int = FIT_IMAGES, size: int | None = None) -> None:
        f = model.info.latent_factor
        side = size or min(model.info.resolution, FIT_LATENT_SIDE * f)
        side -= side % f
        self.model = model
        self.factor = f
        self.images = calibration_images(side, count)
        self._batches = list(self.images.split(FIT_BATCH))
        self._latents: list[torch.Tensor] = []

    @property
    def done(self) -> bool:
        return len(self._latents) == len(self._batches)

    @torch.inference_mode()
    def step(self) -> bool:
        """Encode the next batch of calibration images; True once all are encoded."""
        if not self.done:
            self._latents.append(self.model.encode_images(self._batches[len(self._latents)]).float().cpu())
        return self.done

    def result(self) -> LinearPreview:
        """Least squares of latent channels + bias → RGB (encodes what is left first)."""
        while not self.step():
            pass
        latents = torch.cat(self._latents)
        targets = F.avg_pool2d(self.images, kernel_size=self.factor)  # (N, 3, h, w) in [-1, 1]
        z = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
        design = torch.cat([z, torch.ones(len(z), 1)], dim=1).double()
        rgb = targets.permute(0, 2, 3, 1).reshape(-1, 3).double()
        solution = torch.linalg.lstsq(design, rgb).solution
        return LinearPreview(solution.float().numpy())


def fit_linear_preview(model: LatentDiffusionModel, size: int | None = None, count: int = FIT_IMAGES) -> LinearPreview:
    """Least-squares fit of latent channels + bias → RGB on the model's own encoder."""
    return ProjectionFit(model, count, size).result()


def _fingerprint(model: LatentDiffusionModel) -> str:
    """Changes when the autoencoder's files change, so a stale fit is refitted.

    Built from the files' names, sizes and first MiB (not their times), so a fit shipped with
    a model (the demo model) stays valid after a clone or an install.
    """
    folder = model.info.path / model.info.autoencoder
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(f"{path.name}:{path.stat().st_size}:".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def _cache_paths(model: LatentDiffusionModel) -> list[Path]:
    folder_key = hashlib.sha256(str(model.info.path.resolve()).encode()).hexdigest()[:16]
    return [model.info.path / PREVIEW_FILE, user_cache_dir() / "previews" / f"{folder_key}.json"]


def linear_preview_for(model: LatentDiffusionModel) -> LinearPreview:
    """The model's projection: kept on the loaded model, else read from the cache, else fitted and cached."""
    kept = getattr(model, "linear_preview", None)
    if kept is not None:
        return kept
    projection = _cached_or_fitted(model)
    model.linear_preview = projection
    return projection


def cached_linear_preview(model: LatentDiffusionModel) -> LinearPreview | None:
    """The projection kept on the model or read from the cache (kept on the model then); None if neither."""
    kept = getattr(model, "linear_preview", None)
    if kept is not None:
        return kept
    stamp = _fingerprint(model)
    channels = model.info.latent_channels
    for path in _cache_paths(model):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("fingerprint") == stamp:
                model.linear_preview = LinearPreview.from_json(data, channels)
                return model.linear_preview
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def keep_fitted(model: LatentDiffusionModel, projection: LinearPreview) -> LinearPreview:
    """Keep a fresh fit on the model and write it to the first cache that takes it."""
    model.linear_preview = projection
    payload = json.dumps({**projection.to_json(), "fingerprint": _fingerprint(model)}) + "\n"
    for path in _cache_paths(model):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(payload, encoding="utf-8")
            break
        except OSError:
            continue
    return projection


def _cached_or_fitted(model: LatentDiffusionModel) -> LinearPreview:
    cached = cached_linear_preview(model)
    if cached is not None:
        return cached
    return keep_fitted(model, fit_linear_preview(model))


def decode_preview(model: LatentDiffusionModel, latents: torch.Tensor) -> np.ndarray:
    """Full-decode preview: (B, H, W, 3) uint8."""
    return to_uint8(model.decode(latents))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] → (B, H, W, 3) uint8."""
    return (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


class _PendingCopy:
    """A cheap preview on its way from a CUDA device: copied without blocking into pinned host
    memory, with an event that says when the copy has landed."""

    def __init__(self, image: torch.Tensor) -> None:
        self.host = torch.empty(image.shape, dtype=image.dtype, pin_memory=True)
        self.host.copy_(image, non_blocking=True)
        self.event = torch.cuda.Event()
        self.event.record()

    def ready(self) -> bool:
        return self.event.query()


@dataclass
class PreviewPolicy:
    """Which preview to render and how often; the loop asks it after every step.

    `every=n` renders steps n-1, 2n-1, ... and always the last step. On CUDA the cheap preview
    never makes the host wait for the device: it is projected there, copied non-blocking into
    pinned memory, and handed out at the first step after the copy has landed (so an event's
    preview may show an earlier step); elsewhere it is the step's own.
    """

    kind: PreviewKind = "cheap"
    every: int = 1
    projection: LinearPreview | ChannelPreview | None = None
    tiny: TaesdPreview | None = None  # an installed TAESD of the model's family (generation.taesd)
    _pending: list[_PendingCopy] = field(default_factory=list, init=False, repr=False)

    @property
    def source(self) -> str:
        """What this policy renders, in words (the window's load message says it)."""
        if self.kind in ("approx", "taesd") and self.tiny is not None:
            return self.tiny.label
        return {"none": "none", "cheap": "linear projection", "full": "full decode"}.get(self.kind, "approximate")

    def render(self, model: LatentDiffusionModel, x0: torch.Tensor, index: int, total: int) -> np.ndarray | None:
        due = not ((index + 1) % max(self.every, 1) and index != total - 1)
        if self.kind == "none" or (not due and not self._pending):
            return None
        if self.kind == "full":
            return decode_preview(model, x0)
        if self.kind in ("approx", "taesd") and self.tiny is not None:
            return self._on_host(self.tiny.project_on_device, x0, due)
        if self.kind in ("approx", "taesd"):
            from ldm_studio.core.generation.approx_decoder import approx_preview

            return approx_preview(model, x0, self.projection)
        if self.projection is None:
            self.projection = linear_preview_for(model)
        return self._on_host(self.projection.project_on_device, x0, due)

    def _on_host(
        self, render: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, due: bool
    ) -> np.ndarray | None:
        """A preview computed where x0 is; on CUDA copied without blocking (handed out once landed)."""
        if x0.device.type != "cuda":
            return render(x0).cpu().numpy() if due else None
        if due:
            self._pending.append(_PendingCopy(render(x0)))
        return self._latest_landed()

    def _latest_landed(self) -> np.ndarray | None:
        """The newest copy that has landed (older ones are dropped), without waiting."""
        landed = [i for i, copy in enumerate(self._pending) if copy.ready()]
        if not landed:
            return None
        newest = self._pending[landed[-1]]
        del self._pending[: landed[-1] + 1]
        return newest.host.numpy()
