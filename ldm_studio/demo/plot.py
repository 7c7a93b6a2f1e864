"""Loss curves of a training log drawn with Pillow (no plotting library needed in the app)."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

from PIL import Image, ImageDraw

PANEL_W, PANEL_H, MARGIN = 560, 300, 48
COLOURS = {"raw": (190, 200, 225), "smooth": (30, 70, 170)}


def read_log(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Stage → [(step, loss)], the last value kept where a resumed run logged a step twice."""
    stages: dict[str, dict[int, float]] = defaultdict(dict)
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            stages[row["stage"]][int(row["step"])] = float(row["loss"])
    return {name: sorted(points.items()) for name, points in stages.items()}


def plot_losses(log: Path, target: Path) -> Path:
    """One panel per stage: raw losses (light) and a moving average (dark), log-scaled y."""
    stages = read_log(log)
    image = Image.new("RGB", (PANEL_W, max(1, len(stages)) * PANEL_H), "white")
    draw = ImageDraw.Draw(image)
    for row, (name, points) in enumerate(stages.items()):
        _panel(draw, row * PANEL_H, name, points)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target)
    return target


def _panel(draw: ImageDraw.ImageDraw, top: int, name: str, points: list[tuple[int, float]]) -> None:
    left, right = MARGIN + 10, PANEL_W - 16
    y0, y1 = top + 28, top + PANEL_H - MARGIN
    draw.rectangle([left, y0, right, y1], outline=(120, 120, 120))
    if not points:
        return
    steps = [s for s, _ in points]
    losses = [max(v, 1e-8) for _, v in points]
    smooth = _moving_average(losses, max(1, len(losses) // 60))
    lo, hi = math.log10(min(smooth + losses[len(losses) // 10 :])), math.log10(max(losses))
    hi = max(hi, lo + 1e-3)
    s_lo, s_hi = steps[0], max(steps[-1], steps[0] + 1)

    def xy(step: int, value: float) -> tuple[float, float]:
        x = left + (step - s_lo) / (s_hi - s_lo) * (right - left)
        y = y1 - (min(max(math.log10(value), lo), hi) - lo) / (hi - lo) * (y1 - y0)
        return x, y

    stride = max(1, len(points) // 2000)
    draw.line([xy(s, v) for s, v in zip(steps[::stride], losses[::stride], strict=True)], fill=COLOURS["raw"])
    draw.line([xy(s, v) for s, v in zip(steps, smooth, strict=True)], fill=COLOURS["smooth"], width=2)
    draw.text((left, top + 8), f"{name}: loss (log scale) over {steps[-1]} steps, last {smooth[-1]:.4f}", fill="black")
    for frac in (0.0, 0.5, 1.0):
        value = 10 ** (lo + frac * (hi - lo))
        _, y = xy(s_lo, value)
        draw.text((4, y - 6), f"{value:.3g}", fill=(60, 60, 60))
    for frac in (0.0, 0.5, 1.0):
        step = round(s_lo + frac * (s_hi - s_lo))
        x, _ = xy(step, 10**lo)
        draw.text((x - 12, y1 + 6), str(step), fill=(60, 60, 60))
    draw.text((right - 40, y1 + 22), "step", fill=(60, 60, 60))


def _moving_average(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out
