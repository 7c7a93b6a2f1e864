"""numpy images → QImage, and a batch laid out as one grid image.

QImage (unlike QPixmap) may be built in any thread, so the worker converts and the GUI
thread only paints.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtGui import QImage


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) of a near-square grid for `count` images, wider than tall."""
    cols = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / cols))
    return rows, cols


def tile(images: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) uint8 → one (rows*H, cols*W, 3) image; empty cells stay black."""
    count, height, width, channels = images.shape
    rows, cols = grid_shape(count)
    out = np.zeros((rows * height, cols * width, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        out[r * height : (r + 1) * height, c * width : (c + 1) * width] = image
    return out


def to_qimage(image: np.ndarray) -> QImage:
    """(H, W, 3) uint8 → a QImage that owns its pixels (safe after `image` is gone)."""
    data = np.ascontiguousarray(image, dtype=np.uint8)
    height, width, _ = data.shape
    return QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def grid_qimage(images: np.ndarray) -> QImage:
    """A batch (B, H, W, 3) as one grid QImage."""
    return to_qimage(tile(np.asarray(images)))
