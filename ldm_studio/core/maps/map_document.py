"""The map painter's document: a grid of label indices with painting operations and undo/redo.

Qt-free so every tool can be tested on arrays. Each user action (a stroke, a fill, a
template) is one history entry; only the changed rectangle is kept, so a long session of
small strokes on a 512² map costs kilobytes, not a full copy per stroke.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_HISTORY = 200


@dataclass(frozen=True)
class Edit:
    """One undoable action: the region it changed (None = the whole map) before and after."""

    name: str
    region: tuple[int, int, int, int] | None  # y0, y1, x0, x1
    before: np.ndarray
    after: np.ndarray
    blank_before: bool
    blank_after: bool


class LabelMap:
    """(H, W) label indices of one label set, edited by strokes that can be undone.

    `blank` is True for a fresh or cleared map: "nothing painted yet", which a model that
    treats the map as optional reads as "no map".
    """

    def __init__(self, height: int, width: int, label_set: str, fill: int = 0) -> None:
        if height < 1 or width < 1:
            raise ValueError(f"a map needs a positive size, got {width}×{height}")
        self.label_set = label_set
        self.indices = np.full((height, width), fill, dtype=np.int64)
        self.blank = True
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        self._snapshot: np.ndarray | None = None
        self._snapshot_blank = True

    # --- facts -------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.indices.shape[0]), int(self.indices.shape[1])

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_name(self) -> str:
        return self._undo[-1].name if self._undo else ""

    @property
    def redo_name(self) -> str:
        return self._redo[-1].name if self._redo else ""

    @property
    def in_stroke(self) -> bool:
        return self._snapshot is not None

    def contains(self, x: int, y: int) -> bool:
        h, w = self.shape
        return 0 <= x < w and 0 <= y < h

    def label_at(self, x: int, y: int) -> int | None:
        return int(self.indices[y, x]) if self.contains(x, y) else None

    def used_labels(self) -> dict[int, int]:
        """Label index -> pixel count, most used first."""
        values, counts = np.unique(self.indices, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        return {int(values[i]): int(counts[i]) for i in order}

    # --- strokes: begin, paint (any number of times), end --------------------------------------

    def begin(self) -> None:
        """Start an undoable action (a mouse press); painting until `end` is one history entry."""
        if self._snapshot is None:
            self._snapshot = self.indices.copy()
            self._snapshot_blank = self.blank

    def restore_snapshot(self) -> None:
        """Undo the painting of the current action so far (line and rectangle previews redraw each move)."""
        if self._snapshot is not None and self._snapshot.shape == self.indices.shape:
            self.indices[...] = self._snapshot

    def end(self, name: str) -> bool:
        """Finish the action; True if it changed any pixel (then it is on the undo stack)."""
        before, self._snapshot = self._snapshot, None
        if before is None:
            return False
        if before.shape != self.indices.shape:
            self._push(Edit(name, None, before, self.indices.copy(), self._snapshot_blank, self.blank))
            return True
        changed = before != self.indices
        if not changed.any():
            self.blank = self._snapshot_blank
            return False
        rows = np.flatnonzero(changed.any(axis=1))
        cols = np.flatnonzero(changed.any(axis=0))
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        after = self.indices[y0:y1, x0:x1].copy()
        self._push(Edit(name, (y0, y1, x0, x1), before[y0:y1, x0:x1].copy(), after, self._snapshot_blank, self.blank))
        return True

    def _push(self, edit: Edit) -> None:
        self._undo.append(edit)
        del self._undo[:-MAX_HISTORY]
        self._redo.clear()

    def undo(self) -> bool:
        if not self._undo:
            return False
        edit = self._undo.pop()
        self._apply(edit, edit.before, edit.blank_before)
        self._redo.append(edit)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        edit = self._redo.pop()
        self._apply(edit, edit.after, edit.blank_after)
        self._undo.append(edit)
        return True

    def _apply(self, edit: Edit, values: np.ndarray, blank: bool) -> None:
        if edit.region is None:
            self.indices = values.copy()
        else:
            y0, y1, x0, x1 = edit.region
            self.indices[y0:y1, x0:x1] = values
        self.blank = blank

    # --- painting (inside begin/end) -----------------------------------------------------------

    def paint_line(self, x0: float, y0: float, x1: float, y1: float, size: int, label: int) -> None:
        """A round-capped line `size` pixels wide between two pixel positions (a dab when they are equal)."""
        self.indices[capsule_mask(self.shape, (x0, y0), (x1, y1), size)] = label
        self.blank = False

    def paint_rect(self, x0: int, y0: int, x1: int, y1: int, label: int) -> None:
        """Fill the rectangle between two corner pixels (both included)."""
        h, w = self.shape
        left, right = sorted((int(x0), int(x1)))
        top, bottom = sorted((int(y0), int(y1)))
        left, top = max(left, 0), max(top, 0)
        right, bottom = min(right, w - 1), min(bottom, h - 1)
        if left <= right and top <= bottom:
            self.indices[top : bottom + 1, left : right + 1] = label
            self.blank = False

    def flood_fill(self, x: int, y: int, label: int) -> int:
        """Fill the 4-connected region of the label at (x, y); returns the number of pixels filled."""
        if not self.contains(x, y):
            return 0
        region = connected_region(self.indices, x, y)
        self.indices[region] = label
        self.blank = False
        return int(region.sum())

    # --- whole-map actions (each its own history entry) ----------------------------------------

    def replace(self, indices: np.ndarray, name: str, blank: bool = False) -> None:
        """Put a new map (a template, an opened file, a translation) in place, undoably; the size may change."""
        arr = np.array(indices, dtype=np.int64)
        if arr.ndim != 2 or arr.size == 0:
            raise ValueError(f"a map must be a 2-D array, got shape {arr.shape}")
        self.begin()
        self.indices = arr
        self.blank = blank
        if not self.end(name):
            self.blank = blank

    def clear(self, label: int) -> None:
        """Fill everything with `label` and count the map as blank again."""
        self.replace(np.full(self.shape, label, dtype=np.int64), "Clear", blank=True)


def capsule_mask(shape: tuple[int, int], a: tuple[float, float], b: tuple[float, float], size: int) -> np.ndarray:
    """Pixels whose centres lie within the brush radius of segment a–b (pixel (x, y) has its centre at x, y).

    Radius (size-1)/2, at least 0.5 so a 1-pixel line stays connected.
    """
    h, w = shape
    radius = max((max(int(size), 1) - 1) / 2, 0.5)
    ax, ay = a
    bx, by = b
    x_lo = max(int(np.floor(min(ax, bx) - radius)), 0)
    x_hi = min(int(np.ceil(max(ax, bx) + radius)), w - 1)
    y_lo = max(int(np.floor(min(ay, by) - radius)), 0)
    y_hi = min(int(np.ceil(max(ay, by) + radius)), h - 1)
    mask = np.zeros(shape, dtype=bool)
    if x_lo > x_hi or y_lo > y_hi:
        return mask
    ys, xs = np.mgrid[y_lo : y_hi + 1, x_lo : x_hi + 1].astype(np.float64)
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = np.zeros_like(xs) if length2 == 0 else np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0)
    dist2 = (xs - (ax + t * dx)) ** 2 + (ys - (ay + t * dy)) ** 2
    mask[y_lo : y_hi + 1, x_lo : x_hi + 1] = dist2 <= radius * radius + 1e-9
    return mask


def connected_region(indices: np.ndarray, x: int, y: int) -> np.ndarray:
    """Boolean mask of the 4-connected pixels holding the same label as (x, y) (a scanline fill)."""
    h, w = indices.shape
    target = indices[y, x]
    same = indices == target
    region = np.zeros((h, w), dtype=bool)
    stack = [(int(x), int(y))]
    while stack:
        sx, sy = stack.pop()
        if region[sy, sx] or not same[sy, sx]:
            continue
        row = same[sy]
        left = sx
        while left > 0 and row[left - 1] and not region[sy, left - 1]:
            left -= 1
        right = sx
        while right < w - 1 and row[right + 1] and not region[sy, right + 1]:
            right += 1
        region[sy, left : right + 1] = True
        for ny in (sy - 1, sy + 1):
            if 0 <= ny < h:
                candidates = same[ny, left : right + 1] & ~region[ny, left : right + 1]
                # one seed per run of fillable pixels in the neighbouring row
                starts = np.flatnonzero(candidates & ~np.concatenate(([False], candidates[:-1])))
                stack.extend((left + int(s), ny) for s in starts)
    return region
