"""The map canvas: label indices shown in the palette, painted with the mouse, zoomed with the wheel.

A plain QWidget rather than a QGraphicsView: painting needs an exact widget→pixel mapping
and nearest-neighbour drawing, which is two lines here. The canvas only turns mouse events
into document operations; the document (core.maps.map_document) owns the pixels and the history.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from ldm_studio.core.maps.display_colors import display_palette
from ldm_studio.core.maps.labels import LabelSet
from ldm_studio.core.maps.map_document import LabelMap
from ldm_studio.qt.images import to_qimage
from ldm_studio.widgets.map_painter.tools import MAX_SIZE, MIN_SIZE, STROKE_TOOLS, TOOL_INFO, Tool

MIN_ZOOM, MAX_ZOOM = 0.25, 64.0
BACKGROUND = QColor(38, 40, 44)


class MapCanvas(QWidget):
    """Shows and edits one LabelMap; optionally over the last output picture (overlay mode)."""

    stroke_finished = Signal(str)  # the history name of a finished action ("Brush", "Fill", ...)
    hovered = Signal(int, int)  # map pixel under the cursor, (-1, -1) outside
    label_picked = Signal(int)  # the eyedropper's pick
    zoom_changed = Signal(float)

    def __init__(self, document: LabelMap, labels: LabelSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.labels = labels
        self.tool = Tool.BRUSH
        self.label = 0
        self.background = 0
        self.brush_size = 12
        self.underlay: QImage | None = None  # the output picture, shown under the map in overlay mode
        self.overlay = False
        self.overlay_opacity = 0.5
        self.image = QImage()
        self._palette = display_palette(labels)  # natural colours on screen; indices underneath
        self._scale = 1.0
        self._offset = QPointF(0, 0)
        self._fit = True
        self._start: tuple[int, int] | None = None
        self._last: tuple[int, int] | None = None
        self._cursor: tuple[int, int] | None = None
        self._pan_from: QPointF | None = None
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)
        self.refresh()

    # --- document ----------------------------------------------------------------------------

    def set_document(self, document: LabelMap, labels: LabelSet) -> None:
        self.document = document
        self.labels = labels
        self._palette = display_palette(labels)  # natural colours on screen; indices underneath
        self._start = self._last = None
        self.refresh()
        self.fit()

    def refresh(self) -> None:
        """Recolour the map after any change of its pixels."""
        indices = np.clip(self.document.indices, 0, len(self._palette) - 1)
        self.image = to_qimage(self._palette[indices])
        self.update()

    # --- geometry ----------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return self._scale

    def map_rect(self) -> QRectF:
        h, w = self.document.shape
        return QRectF(self._offset.x(), self._offset.y(), w * self._scale, h * self._scale)

    def to_widget(self, x: float, y: float) -> QPointF:
        """The widget position of map coordinate (x, y) (pixel (i, j) spans i..i+1)."""
        return QPointF(self._offset.x() + x * self._scale, self._offset.y() + y * self._scale)

    def pixel_at(self, pos: QPointF) -> tuple[int, int]:
        """The map pixel under a widget position (may lie outside the map)."""
        return (
            math.floor((pos.x() - self._offset.x()) / self._scale),
            math.floor((pos.y() - self._offset.y()) / self._scale),
        )

    def fit(self) -> None:
        """Show the whole map, centred (the default until the person zooms)."""
        self._fit = True
        h, w = self.document.shape
        margin = 12
        self._scale = max(min((self.width() - margin) / w, (self.height() - margin) / h), 1e-3)
        self._offset = QPointF((self.width() - w * self._scale) / 2, (self.height() - h * self._scale) / 2)
        self.zoom_changed.emit(self._scale)
        self.update()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the map point under `anchor` (default: the centre) where it is."""
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        target = min(max(self._scale * factor, MIN_ZOOM), MAX_ZOOM)
        if target == self._scale:
            return
        mx = (anchor.x() - self._offset.x()) / self._scale
        my = (anchor.y() - self._offset.y()) / self._scale
        self._scale = target
        self._offset = QPointF(anchor.x() - mx * target, anchor.y() - my * target)
        self._fit = False
        self.zoom_changed.emit(self._scale)
        self.update()

    def set_brush_size(self, size: int) -> None:
        self.brush_size = min(max(int(size), MIN_SIZE), MAX_SIZE)
        self.update()

    # --- events ------------------------------------------------------------------------------

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(1.25**steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        x, y = self.pixel_at(event.position())
        if self.tool is Tool.PICKER:
            label = self.document.label_at(x, y)
            if label is not None:
                self.label_picked.emit(label)
            return
        if self.tool is Tool.FILL:
            if self.document.contains(x, y):
                self.document.begin()
                self.document.flood_fill(x, y, self.label)
                self._finish("Fill")
            return
        self._start = self._last = (x, y)
        self.document.begin()
        self._paint_to(x, y)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._offset += event.position() - self._pan_from
            self._pan_from = event.position()
            self._fit = False
            self.update()
            return
        x, y = self.pixel_at(event.position())
        if (x, y) != self._cursor:
            self._cursor = (x, y)
            inside = self.document.contains(x, y)
            self.hovered.emit(x if inside else -1, y if inside else -1)
            self.update()
        if self._start is not None and (x, y) != self._last:
            self._paint_to(x, y)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton and self._pan_from is not None:
            self._pan_from = None
            self.setCursor(Qt.CursorShape.CrossCursor)
            return
        if event.button() != Qt.MouseButton.LeftButton or self._start is None:
            return
        x, y = self.pixel_at(event.position())
        if (x, y) != self._last:
            self._paint_to(x, y)
        self._start = self._last = None
        self._finish(TOOL_INFO[self.tool][0])

    def leaveEvent(self, event) -> None:
        self._cursor = None
        self.hovered.emit(-1, -1)
        self.update()

    def _paint_to(self, x: int, y: int) -> None:
        """Extend the current stroke to pixel (x, y): brush/eraser add a segment, line/rectangle redraw."""
        doc, (sx, sy) = self.document, self._start
        lx, ly = self._last
        if self.tool is Tool.BRUSH:
            doc.paint_line(lx, ly, x, y, self.brush_size, self.label)
        elif self.tool is Tool.ERASER:
            doc.paint_line(lx, ly, x, y, self.brush_size, self.background)
        elif self.tool is Tool.LINE:
            doc.restore_snapshot()
            doc.paint_line(sx, sy, x, y, self.brush_size, self.label)
        elif self.tool is Tool.RECT:
            doc.restore_snapshot()
            doc.paint_rect(sx, sy, x, y, self.label)
        self._last = (x, y)
        self.refresh()

    def _finish(self, name: str) -> None:
        changed = self.document.end(name)
        self.refresh()
        if changed:
            self.stroke_finished.emit(name)

    # --- drawing -----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        target = self.map_rect()
        if self.overlay and self.underlay is not None and not self.underlay.isNull():
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(target, self.underlay)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            p.setOpacity(self.overlay_opacity)
        p.drawImage(target, self.image)  # nearest neighbour: crisp label edges at any zoom
        p.setOpacity(1.0)
        frame = QPen(QColor(0, 0, 0, 120), 1)
        frame.setCosmetic(True)
        p.setPen(frame)
        p.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
        self._draw_cursor(p)
        p.end()

    def _draw_cursor(self, p: QPainter) -> None:
        if self._cursor is None or self.tool not in (*STROKE_TOOLS, Tool.RECT):
            return
        x, y = self._cursor
        diameter = (self.brush_size if self.tool in STROKE_TOOLS else 1) * self._scale
        centre = self.to_widget(x + 0.5, y + 0.5)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(Qt.BrushStyle.NoBrush)
        for colour, width in ((QColor(0, 0, 0, 160), 3.0), (QColor(255, 255, 255, 230), 1.2)):
            p.setPen(QPen(colour, width))
            p.drawEllipse(centre, max(diameter / 2, 2.0), max(diameter / 2, 2.0))
