"""A sweep's contact sheet, laid out like an X/Y plot.

The last swept axis runs across (its values head the columns), the other axes run down
(their values head the rows). Several images per sweep point (batch > 1) sit side by side
in their cell. Small images are enlarged (nearest neighbour) so the labels stay readable.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ldm_studio.core.batch.spec import ImageJob
from ldm_studio.core.files.outputs import write_png_atomic

MIN_CELL = 128
MAX_CELL = 256
PAD = 4
LINE = 12


def write_contact_sheet(path: Path, jobs: list[ImageJob], files: list[Path], axes: dict[str, list[Any]]) -> Path:
    names = list(axes)
    across_axis = names[-1]
    down_axes = names[:-1]
    columns = [_label({across_axis: v}) for v in axes[across_axis]]
    rows: list[str] = []
    cells: dict[tuple[str, str], list[Path]] = {}
    for job, file in zip(jobs, files, strict=True):
        values = dict(job.axes)
        row = _label({k: values[k] for k in down_axes}) if down_axes else ""
        if row not in rows:
            rows.append(row)
        cells.setdefault((row, _label({across_axis: values[across_axis]})), []).append(file)
    per_cell = max(len(v) for v in cells.values())

    side = _cell_side(files[0])
    font = ImageFont.load_default()
    head_w = 0 if not down_axes else 160
    head_h = LINE * max(len(_wrap(c, side * per_cell)) for c in columns) + 2 * PAD
    width = head_w + len(columns) * (side * per_cell + PAD) + PAD
    height = head_h + len(rows) * (side + PAD) + PAD
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for c, column in enumerate(columns):
        x = head_w + PAD + c * (side * per_cell + PAD)
        for n, line in enumerate(_wrap(column, side * per_cell)):
            draw.text((x, PAD + n * LINE), line, fill="black", font=font)
    for r, row in enumerate(rows):
        y = head_h + r * (side + PAD)
        for n, line in enumerate(_wrap(row, head_w - PAD)):
            draw.text((PAD, y + n * LINE), line, fill="black", font=font)
        for c, column in enumerate(columns):
            x = head_w + PAD + c * (side * per_cell + PAD)
            for k, file in enumerate(cells.get((row, column), [])):
                sheet.paste(_thumb(file, side), (x + k * side, y))
    return write_png_atomic(path, np.asarray(sheet))


def _label(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _wrap(text: str, width_px: int) -> list[str]:
    return textwrap.wrap(text, max(8, width_px // 6)) or [""]


def _cell_side(file: Path) -> int:
    with Image.open(file) as image:
        return int(min(MAX_CELL, max(MIN_CELL, image.width)))


def _thumb(file: Path, side: int) -> Image.Image:
    with Image.open(file) as opened:
        image = opened.convert("RGB")
        resample = Image.Resampling.NEAREST if image.width < side else Image.Resampling.LANCZOS
        return image.resize((side, round(side * image.height / image.width)), resample)
