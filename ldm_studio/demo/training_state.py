"""The trainer's run state: its configuration, stage results, atomic checkpoints, the loss log and the clock.

Kept apart from the stages (`stages`) and the orchestration (`train`) so each reads on its own.
"""

from __future__ import annotations

import csv
import hashlib
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ldm_studio.demo.scenes import SIZE

HELDOUT_SEED = 1_000_000_007  # scenes never drawn for training (training seeds are small)
HELDOUT_SCENES = 256
CHECKPOINT_EVERY_S = 180.0


@dataclass
class TrainConfig:
    """What `ldm-studio train-demo` was asked for; the defaults are the shipped model's."""

    out: Path
    minutes: float = 100.0
    device: str | None = None
    seed: int = 0
    threads: int | None = None
    work: Path | None = None
    autoencoder: str = "kl"  # or "vq"
    vae_share: float = 0.3  # of the time; encoding the data set takes a few percent, the U-Net the rest
    unet_scenes: int = 30_000
    vae_batch: int = 32
    unet_batch: int = 64
    vae_lr: float = 1e-3
    unet_lr: float = 6e-4
    kl_weight: float = 1e-6
    p_drop: float = 0.3  # each of text, class and map is dropped independently ...
    p_drop_all: float = 0.05  # ... and all three together this often (more unconditional examples)
    max_steps: int | None = None  # a cap per stage, for smoke tests
    heldout_scenes: int = HELDOUT_SCENES
    command: str = ""

    def work_dir(self) -> Path:
        if self.work is not None:
            return self.work
        key = hashlib.sha1(str(self.out.resolve()).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"ldm-studio-train-demo-{key}"


@dataclass
class StageResult:
    steps: int
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)


def pick_device(requested: str | None) -> torch.device:
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


class Checkpoint:
    """A torch checkpoint written atomically (temp file + rename), so an interrupted run resumes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, device: torch.device) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        return torch.load(self.path, map_location=device, weights_only=True)

    def save(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)


class LossLog:
    """Losses appended to a CSV (stage, step, seconds, loss), one row per step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        new = not path.is_file()
        self._file = path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(["stage", "step", "seconds", "loss"])

    def add(self, stage: str, step: int, seconds: float, loss: float) -> None:
        self._writer.writerow([stage, step, f"{seconds:.2f}", f"{loss:.6f}"])
        if step % 50 == 0:
            self._file.flush()

    def close(self) -> None:
        self._file.close()


class StageClock:
    """The time budget of a stage (carried over on resume), its progress bar and checkpoint timer."""

    def __init__(self, name: str, seconds: float, already: float) -> None:
        self.name = name
        self.budget = seconds
        self.already = already
        self._start = time.monotonic()
        self._last_ckpt = self._start
        self._bar = tqdm(
            total=round(seconds),
            initial=min(round(already), round(seconds)),
            desc=name,
            unit="s",
            file=sys.stderr,
            mininterval=15,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s {postfix}",
        )
        self._shown = min(round(already), round(seconds))
        self._loss: float | None = None

    def __enter__(self) -> StageClock:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()

    @property
    def elapsed(self) -> float:
        return self.already + time.monotonic() - self._start

    def fraction(self) -> float:
        return self.elapsed / self.budget if self.budget > 0 else 1.0

    def over(self) -> bool:
        return self.elapsed >= self.budget

    def tick(self, step: int, loss: float) -> None:
        self._loss = loss if self._loss is None else 0.98 * self._loss + 0.02 * loss
        now = min(round(self.elapsed), self._bar.total)
        if now > self._shown:
            self._bar.set_postfix_str(f"step {step} loss {self._loss:.4f}", refresh=False)
            self._bar.update(now - self._shown)
            self._shown = now

    def due_checkpoint(self) -> bool:
        now = time.monotonic()
        if now - self._last_ckpt >= CHECKPOINT_EVERY_S:
            self._last_ckpt = now
            return True
        return False


def environment() -> dict[str, str]:
    import diffusers
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "image_size": str(SIZE),
    }
