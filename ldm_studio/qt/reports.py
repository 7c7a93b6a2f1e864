"""What the engine thread reports about a job, as data: its progress and each picture of it.

The window, the timeline and the map painter all read these and nothing else: no copy of
the request kept on the side, no controller attribute read next to a signal, so no slot
depends on another having run first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QImage

from ldm_studio.qt.images import grid_qimage, grid_shape


@dataclass(frozen=True)
class JobProgress:
    """Where a job is: the loop's real step count (Heun and PLMS take more than asked) and its speed."""

    job: int
    done: int
    total: int
    requested: int  # the steps the person asked for
    images: int  # the batch size
    eta: float = 0.0  # seconds
    rate: float = 0.0  # steps per second of the sampling alone


@dataclass(frozen=True)
class Frame:
    """One picture of a job: a batch as a grid, with its layout.

    `cell` is one image's full size: a small cheap preview is shown stretched to it, so
    the canvas does not jump when the full decode arrives.
    """

    job: int
    step: int  # steps done when it was taken (the finished image: == total)
    total: int
    image: QImage  # the batch as one grid of `layout` cells
    count: int
    cell: tuple[int, int]  # (width, height) of one image at full size
    kind: str = "preview"  # "preview" (cheap), "decoded" (a full decode someone asked for), "final"

    @property
    def layout(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        return grid_shape(self.count)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole grid at full size."""
        rows, cols = self.layout
        return cols * self.cell[0], rows * self.cell[1]

    @property
    def decoded(self) -> bool:
        """A full decode: a later cheap projection must not replace it."""
        return self.kind != "preview"

    @property
    def final(self) -> bool:
        return self.kind == "final"

    def first_image(self) -> QImage:
        """The batch's first image (the whole grid when it holds one)."""
        rows, cols = self.layout
        if rows * cols == 1:
            return self.image
        return self.image.copy(0, 0, self.image.width() // cols, self.image.height() // rows)


def make_frame(
    job: int, images: np.ndarray, cell: tuple[int, int], step: int, total: int, kind: str = "preview"
) -> Frame:
    """A frame of a batch `images` (B, H, W, 3) uint8."""
    images = np.asarray(images)
    return Frame(job, step, total, grid_qimage(images), len(images), cell, kind)
