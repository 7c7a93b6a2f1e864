"""Measuring the demo model the way the LDM paper measures conditional models: by what a judge sees.

A small scene classifier and a small per-pixel segmenter are trained on the procedural
scenes (demo.scenes gives the ground truth for free). They then judge generated images:
class accuracy of class-conditioned images, caption → scene-class accuracy of
caption-conditioned images, the spread of classes of unconditional images, and the mIoU
of the segmentation of map-conditioned images against the map that conditioned them. The
same judges on real procedural scenes give the ceiling.

The judges are tiny (tens of thousands of parameters) and ship as float16 safetensors in
`resources/demo_eval/`; `train_judges` retrains them deterministically.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ldm_studio.demo.scenes import LABELS, SCENE_CLASSES, generate_scenes
from ldm_studio.resources_path import resource_path

if TYPE_CHECKING:
    from ldm_studio.core.families.base import LatentDiffusionModel

JUDGES_FOLDER = resource_path("demo_eval")
CLASSIFIER_FILE = "scene_classifier.safetensors"
SEGMENTER_FILE = "scene_segmenter.safetensors"
LABEL_IDS = np.array(list(LABELS.values()), dtype=np.int64)  # segmenter channel k = COCO-Stuff index LABEL_IDS[k]
HELDOUT_SEED = 10_007  # scenes for held-out checks; training uses seeds from 0 up


def _to_input(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 → (N, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def _block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]


class SceneClassifier(nn.Module):
    """64×64 image → 8 scene-class logits."""

    def __init__(self) -> None:
        super().__init__()
        layers = [*_block(3, 16, 2), *_block(16, 32, 2), *_block(32, 48, 2), *_block(48, 64, 2)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(64, len(SCENE_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SceneSegmenter(nn.Module):
    """64×64 image → per-pixel logits over the scenes' labels (LABEL_IDS).

    Works at half resolution (and a quarter for context), then upsamples the logits: the
    scenes' regions are smooth, and this is 8× cheaper than a full-resolution net.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_block(3, 16, 2), *_block(16, 24))
        self.down = nn.Sequential(*_block(24, 32, 2), *_block(32, 32))
        self.out = nn.Sequential(nn.Conv2d(24 + 32, 32, 1), nn.ReLU(), nn.Conv2d(32, len(LABEL_IDS), 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.stem(x)
        deep = F.interpolate(self.down(skip), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.out(torch.cat([skip, deep], dim=1))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def map_to_channels(maps: np.ndarray) -> torch.Tensor:
    """COCO-Stuff index maps → segmenter channel maps (every scene label is in LABEL_IDS)."""
    lookup = np.zeros(256, dtype=np.int64)
    lookup[LABEL_IDS] = np.arange(len(LABEL_IDS))
    return torch.from_numpy(lookup[np.asarray(maps)])


@dataclass
class Judges:
    classifier: SceneClassifier
    segmenter: SceneSegmenter

    @torch.no_grad()
    def classify(self, images: np.ndarray) -> np.ndarray:
        """(N, 64, 64, 3) uint8 → predicted scene class per image."""
        x = _to_input(images)
        return torch.cat([self.classifier(part).argmax(1) for part in x.split(64)]).numpy()

    @torch.no_grad()
    def segment(self, images: np.ndarray) -> np.ndarray:
        """(N, 64, 64, 3) uint8 → (N, 64, 64) COCO-Stuff indices."""
        x = _to_input(images)
        channels = torch.cat([self.segmenter(part).argmax(1) for part in x.split(64)]).numpy()
        return LABEL_IDS[channels]

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        for net, name in ((self.classifier, CLASSIFIER_FILE), (self.segmenter, SEGMENTER_FILE)):
            state = {k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
                     for k, v in net.state_dict().items()}  # fmt: skip
            save_file(state, str(folder / name))
            (folder / name).chmod(0o644)  # safetensors writes 0600; these ship with the package

    @classmethod
    def load(cls, folder: Path = JUDGES_FOLDER) -> Judges:
        from safetensors.torch import load_file

        nets = []
        for net, name in ((SceneClassifier(), CLASSIFIER_FILE), (SceneSegmenter(), SEGMENTER_FILE)):
            path = folder / name
            try:
                state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
                net.load_state_dict(state)
            except (OSError, RuntimeError, Exception) as exc:  # safetensors raises its own error type
                raise ValueError(f"{path}: cannot load the demo evaluator ({exc})") from exc
            nets.append(net.eval().requires_grad_(False))
        return cls(*nets)


def _train(
    net: nn.Module,
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    seed: int,
    say: Callable[[str], None],
    name: str,
    batch: int = 64,
) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.train()
    for step in range(steps):
        idx = torch.randint(len(x), (batch,), generator=gen)
        xb, yb = x[idx], y[idx]
        if step % 2:
            xb, yb = xb.flip(-1), (yb.flip(-1) if yb.ndim > 1 else yb)
        loss = loss_fn(net, xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for group in opt.param_groups:
            group["lr"] = 3e-3 * 0.5 * (1 + math.cos(math.pi * (step + 1) / steps))
        if (step + 1) % 100 == 0:
            say(f"{name} step {step + 1}/{steps}: loss {loss.item():.4f}")
    net.eval().requires_grad_(False)


def train_judges(
    scenes: int = 4000, steps: int = 300, seed: int = 0, progress: Callable[[str], None] | None = None
) -> Judges:
    """Train both judges on `scenes` procedural scenes (deterministic for a given seed and thread count)."""
    say = progress or (lambda message: None)
    torch.manual_seed(seed)
    data = generate_scenes(scenes, seed=seed)
    x = _to_input(data.images)
    classifier, segmenter = SceneClassifier(), SceneSegmenter()
    _train(classifier, lambda n, a, b: F.cross_entropy(n(a), b), x, torch.from_numpy(data.classes), steps, seed,
           say, "classifier")  # fmt: skip
    _train(segmenter, lambda n, a, b: F.cross_entropy(n(a), b), x, map_to_channels(data.maps), steps, seed + 1,
           say, "segmenter", batch=32)  # fmt: skip
    return Judges(classifier, segmenter)


def mean_iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean over the labels present (in truth or prediction) of intersection / union, over the whole set."""
    ious = []
    for label in np.union1d(np.unique(truth), np.unique(predicted)):
        p, t = predicted == label, truth == label
        union = np.logical_or(p, t).sum()
        if union:
            ious.append(np.logical_and(p, t).sum() / union)
    return float(np.mean(ious)) if ious else float("nan")


def class_spread(classes: np.ndarray) -> float:
    """Entropy of the class histogram / log(8): 1 = all classes equally often, 0 = always one class."""
    counts = np.bincount(classes, minlength=len(SCENE_CLASSES)).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum() / math.log(len(SCENE_CLASSES)))


@dataclass
class DemoQuality:
    """The figures of one evaluation; `count` images per input kind."""

    count: int
    figures: dict[str, float] = field(default_factory=dict)
    unconditional_histogram: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [f"{k}: {v:.4f}" for k, v in self.figures.items()]
        names = ", ".join(f"{n} {c}" for n, c in zip(SCENE_CLASSES, self.unconditional_histogram, strict=True))
        out.append(f"unconditional classes: {names}")
        out.append(f"images per kind: {self.count}; {self.seconds:.0f} s")
        return out


def _generate(model: LatentDiffusionModel, conditions: list, seed: int) -> np.ndarray:
    """One image per condition at the model's default settings, image i with seed `seed + i`."""
    from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings
    from ldm_studio.core.generation.sampling import sample

    d = model.info.defaults
    side = model.info.resolution
    out = []
    for i, condition in enumerate(conditions):
        settings = SamplerSettings(d.sampler, d.steps, d.guidance, d.eta, seed=seed + i, width=side, height=side)
        images = sample(model, GenerationRequest(condition, settings))
        out.append((images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
    return np.concatenate(out)


def evaluate(
    model: LatentDiffusionModel,
    judges: Judges,
    count: int,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> DemoQuality:
    """Generate `count` images per input kind (class, caption, map, unconditional) and judge them."""
    from ldm_studio.core.generation.condition_types import (
        ClassCondition,
        SemanticMapCondition,
        TextCondition,
        UnconditionalCondition,
    )

    say = progress or (lambda message: None)
    start = time.perf_counter()
    real = generate_scenes(count, seed=HELDOUT_SEED + seed)
    result = DemoQuality(count)
    f = result.figures
    f["real_class_accuracy"] = float(np.mean(judges.classify(real.images) == real.classes))
    f["real_map_miou"] = mean_iou(judges.segment(real.images), real.maps)

    classes = np.arange(count) % len(SCENE_CLASSES)
    say(f"{count} class-conditioned images")
    images = _generate(model, [ClassCondition((int(c),)) for c in classes], seed)
    f["class_accuracy"] = float(np.mean(judges.classify(images) == classes))

    say(f"{count} caption-conditioned images")
    images = _generate(model, [TextCondition(c) for c in real.captions], seed + 100_000)
    f["caption_accuracy"] = float(np.mean(judges.classify(images) == real.classes))

    say(f"{count} map-conditioned images")
    images = _generate(model, [SemanticMapCondition(m) for m in real.maps], seed + 200_000)
    f["map_miou"] = mean_iou(judges.segment(images), real.maps)
    f["map_miou_vs_real"] = f["map_miou"] / max(f["real_map_miou"], 1e-9)

    say(f"{count} unconditional images")
    images = _generate(model, [UnconditionalCondition()] * count, seed + 300_000)
    predicted = judges.classify(images)
    result.unconditional_histogram = np.bincount(predicted, minlength=len(SCENE_CLASSES)).tolist()
    f["unconditional_class_spread"] = class_spread(predicted)
    result.seconds = time.perf_counter() - start
    return result
