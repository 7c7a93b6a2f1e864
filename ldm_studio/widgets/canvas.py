"""The image canvas: live previews, then the result; wheel zoom, drag pan, a batch as a grid.

The controller already limits previews to the screen's refresh rate; the canvas swaps one
pixmap and lets Qt merge repaints, so it never falls behind.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

from ldm_studio.qt.images import grid_shape
from ldm_studio.qt.reports import Frame

MIN_ZOOM, MAX_ZOOM = 0.05, 32.0


NO_MODEL_PLACEHOLDER = "Open a model (Ctrl+O), then Generate (Ctrl+Enter)"
# the demo model's own caption words (ldm_studio.demo.scenes.vocabulary): it knows no others
DEMO_PROMPT_EXAMPLE = "a blue lake below the mountains"


class ImageCanvas(QGraphicsView):
    """One image (a single picture or a batch grid) shown at the size of the final result."""

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.image: QImage | None = None
        self.cells = (1, 1)
        self._fit = True
        self.placeholder = NO_MODEL_PLACEHOLDER
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor(38, 40, 44))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setMinimumSize(160, 160)

    def show_image(self, image: QImage, size: tuple[int, int] | None = None, count: int = 1) -> None:
        """Show `image` stretched to `size` (the final grid's size, for small previews).

        `count` images form a grid of `grid_shape(count)` cells, outlined on top.
        """
        self.image = image
        self.cells = grid_shape(count)
        width, height = size or (image.width(), image.height())
        new_rect = QRectF(0, 0, width, height)
        changed = new_rect != self.scene().sceneRect()
        self._item.setPixmap(QPixmap.fromImage(image))
        self._item.setScale(width / max(image.width(), 1))
        if changed:
            self.scene().setSceneRect(new_rect)
            if self._fit:
                self.fit()
        self.viewport().update()

    def show_frame(self, frame: Frame) -> None:
        """Show a job's picture at its full size, its batch cells outlined."""
        self.show_image(frame.image, frame.size, frame.count)

    def clear(self) -> None:
        self.image = None
        self._item.setPixmap(QPixmap())
        self.scene().setSceneRect(QRectF())
        self.viewport().update()

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        """Fit the whole picture in the view (the default until the person zooms)."""
        self._fit = True
        rect = self.scene().sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect.adjusted(-8, -8, 8, 8), Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        self._fit = False
        self.resetTransform()
        self.zoom_changed.emit(self.zoom)

    def zoom_by(self, factor: float) -> None:
        target = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM)
        factor = target / self.zoom
        if factor != 1.0:
            self._fit = False
            self.scale(factor, factor)
            self.zoom_changed.emit(self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(1.25**steps)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        self.fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """Thin lines between the cells of a batch grid."""
        rows, cols = self.cells
        scene = self.scene().sceneRect()
        if self.image is None or (rows == 1 and cols == 1) or scene.isEmpty():
            return
        pen = QPen(QColor(38, 40, 44), 2)
        pen.setCosmetic(True)
        painter.setPen(pen)
        for c in range(1, cols):
            x = scene.width() * c / cols
            painter.drawLine(QPointF(x, 0), QPointF(x, scene.height()))
        for r in range(1, rows):
            y = scene.height() * r / rows
            painter.drawLine(QPointF(0, y), QPointF(scene.width(), y))

    def set_placeholder(self, text: str) -> None:
        """What the empty canvas says (it depends on whether a model is loaded)."""
        self.placeholder = text
        self.viewport().update()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawBackground(painter, rect)
        if self.image is None:
            painter.save()
            painter.resetTransform()
            painter.setPen(QColor(150, 154, 160))
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap  # wraps in a narrow side-by-side pane
            painter.drawText(self.viewport().rect().adjusted(12, 0, -12, 0), int(flags), self.placeholder)
            painter.restore()
