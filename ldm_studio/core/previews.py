"""Latent → RGB previews: a fitted linear projection (cheap) or a full decode (exact, slow).

The projection maps each latent pixel (channels + bias) to RGB. It is fitted by least
squares on latents of calibration images the model's own encoder sees, against those
images average-pooled to latent resolution, so it works for any autoencoder (KL or VQ, any
channel count) without hand-tuned factors. The fit takes a second and is cached in the model
folder (or the user cache when the folder is read-only).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F

from ldm_studio.core.store import user_cache_dir

if TYPE_CHECKING:
    from ldm_studio.core.families.base import LatentDiffusionModel

PREVIEW_FILE = "preview_projection.json"
PreviewKind = Literal["none", "cheap", "approx", "full"]  # approx: core.approx_decoder, else smooth linear


@dataclass(frozen=True)
class LinearPreview:
    """RGB = [latent channels, 1] @ weights, per latent pixel; values in [-1, 1] image space."""

    weights: np.ndarray  # (C + 1, 3)

    def __post_init__(self) -> None:
        # the projection runs every step: keep the matrix as a tensor, in image units [0, 255]
        w = torch.as_tensor(self.weights, dtype=torch.float32) * 127.5
        object.__setattr__(self, "_matrix", w[:-1].contiguous())
        object.__setattr__(self, "_offset", w[-1] + 127.5)

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) latents → (B, h, w, 3) uint8 on the CPU."""
        z = latents.detach().to("cpu", torch.float32).permute(0, 2, 3, 1)
        return (z @ self._matrix + self._offset).clamp_(0, 255).to(torch.uint8)

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


def fit_linear_preview(model: LatentDiffusionModel, size: int | None = None) -> LinearPreview:
    """Least-squares fit of latent channels + bias → RGB on the model's own encoder."""
    f = model.info.latent_factor
    side = size or min(model.info.resolution, 16 * f)
    side -= side % f
    images = calibration_images(side)
    latents = torch.cat([model.encode_images(batch).float().cpu() for batch in images.split(8)])
    targets = F.avg_pool2d(images, kernel_size=f)  # (N, 3, h, w) in [-1, 1]
    z = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    design = torch.cat([z, torch.ones(len(z), 1)], dim=1).double()
    rgb = targets.permute(0, 2, 3, 1).reshape(-1, 3).double()
    solution = torch.linalg.lstsq(design, rgb).solution
    return LinearPreview(solution.float().numpy())


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


def _cached_or_fitted(model: LatentDiffusionModel) -> LinearPreview:
    stamp = _fingerprint(model)
    channels = model.info.latent_channels
    paths = _cache_paths(model)
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("fingerprint") == stamp:
                return LinearPreview.from_json(data, channels)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    projection = fit_linear_preview(model)
    payload = json.dumps({**projection.to_json(), "fingerprint": stamp}) + "\n"
    for path in paths:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(payload, encoding="utf-8")
            break
        except OSError:
            continue
    return projection


def decode_preview(model: LatentDiffusionModel, latents: torch.Tensor) -> np.ndarray:
    """Full-decode preview: (B, H, W, 3) uint8."""
    return to_uint8(model.decode(latents))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] → (B, H, W, 3) uint8."""
    return (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


@dataclass
class PreviewPolicy:
    """Which preview to render and how often; the loop asks it after every step.

    `every=n` renders steps n-1, 2n-1, ... and always the last step.
    """

    kind: PreviewKind = "cheap"
    every: int = 1
    projection: LinearPreview | None = None

    def render(self, model: LatentDiffusionModel, x0: torch.Tensor, index: int, total: int) -> np.ndarray | None:
        if self.kind == "none" or ((index + 1) % max(self.every, 1) and index != total - 1):
            return None
        if self.kind == "full":
            return decode_preview(model, x0)
        if self.kind == "approx":
            from ldm_studio.core.approx_decoder import approx_preview

            return approx_preview(model, x0, self.projection)
        if self.projection is None:
            self.projection = linear_preview_for(model)
        return self.projection.project(x0).numpy()
