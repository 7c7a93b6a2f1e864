"""The image canvas: live previews, then the result; wheel zoom, drag pan, a batch as a grid.

The controller already limits previews to the screen's refresh rate; the canvas swaps one
pixmap and lets Qt merge repaints, so it never falls behind.

Compare: with a `before` picture (the input of an image-to-image, inpaint or upscale job) the
canvas can show it and the result side by side, or one picture split by a before/after divider
(`compose_ab`, the same composition the timeline's A/B compare uses) that the mouse drags and
the arrow keys move. Whatever the canvas is given to show (previews, the result, a timeline
step) is compared with the same `before`. A picture the caller composed itself (the timeline's
A/B: parent | branch, `show_image(..., ab_divider=f)`) gets the same handle: dragging it emits
`ab_moved` and the caller composes again.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QKeyEvent, QMouseEvent, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

from ldm_studio.qt.images import grid_shape
from ldm_studio.qt.reports import Frame

MIN_ZOOM, MAX_ZOOM = 0.05, 32.0
SIDE_GAP = 8  # px of background between the two pictures side by side
GRAB_PX = 12  # how near (screen pixels) the divider a press grabs it
KEY_STEP = 0.05  # the divider's move per arrow key (Shift: a fifth of it)


class Compare(str, Enum):
    """How the canvas shows a result that had an input picture."""

    OFF = "off"  # the result alone
    SIDE = "side"  # input left, result right
    SLIDER = "slider"  # one picture: the input left of a draggable divider, the result right of it


def compose_ab(a: QImage, b: QImage, width: int, height: int, fraction: float, line: bool = True) -> QImage:
    """`a` left of a divider at `fraction` of the width, `b` right of it, both stretched to width×height
    (with a 1 px white `line` on the divider; the canvas draws its own at screen resolution)."""
    out = QImage(width, height, QImage.Format.Format_RGB32)
    out.fill(QColor(0, 0, 0))
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    target = QRectF(0, 0, width, height)
    painter.drawImage(target, a)
    x = round(width * min(max(fraction, 0.0), 1.0))
    painter.setClipRect(QRectF(x, 0, width - x, height))
    painter.drawImage(target, b)
    painter.setClipping(False)
    if line:
        painter.setPen(QPen(QColor(255, 255, 255), 1))
        painter.drawLine(QPointF(x, 0), QPointF(x, height))
    painter.end()
    return out


def compose_side_by_side(a: QImage, b: QImage, width: int, height: int, gap: int = SIDE_GAP) -> QImage:
    """`a` and `b` next to each other, each stretched to width×height, `gap` pixels of background between."""
    out = QImage(2 * width + gap, height, QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(QColor(0, 0, 0, 0))
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.drawImage(QRectF(0, 0, width, height), a)
    painter.drawImage(QRectF(width + gap, 0, width, height), b)
    painter.end()
    return out


NO_MODEL_PLACEHOLDER = "Open a model (Ctrl+O), then Generate (Ctrl+Enter)"
# the demo model's own caption words (ldm_studio.demo.scenes.vocabulary): it knows no others
DEMO_PROMPT_EXAMPLE = "a blue lake below the mountains"


class ImageCanvas(QGraphicsView):
    """One image (a single picture or a batch grid) shown at the size of the final result."""

    zoom_changed = Signal(float)
    compare_changed = Signal(object)  # Compare
    divider_moved = Signal(float)
    ab_moved = Signal(float)  # the handle of a caller-composed A/B picture was dragged to this fraction

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.image: QImage | None = None  # what was given to show (the result, not the comparison)
        self.before: QImage | None = None  # the input picture the result is compared with
        self.compare = Compare.OFF
        self.divider = 0.5  # the before/after divider, a fraction of the width
        self._size: tuple[int, int] = (0, 0)  # the shown image's final size
        self._dragging_divider = False
        self.ab: float | None = None  # the divider of a picture composed by the caller (the timeline's A/B)
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

    def show_image(
        self, image: QImage, size: tuple[int, int] | None = None, count: int = 1, ab_divider: float | None = None
    ) -> None:
        """Show `image` stretched to `size` (the final grid's size, for small previews).

        `count` images form a grid of `grid_shape(count)` cells, outlined on top. `ab_divider`: the
        image is an A/B picture split there (the canvas draws the handle that moves it).
        """
        self.ab = ab_divider if count == 1 else None
        self.image = image
        self.cells = grid_shape(count)
        self._size = size or (image.width(), image.height())
        self._render()

    @property
    def comparing(self) -> Compare:
        """The comparison on show: OFF without a `before`, for a batch grid, for a caller's A/B picture
        (the timeline's, asked for explicitly), or when none is chosen."""
        if self.before is None or self.image is None or self.cells != (1, 1) or self.ab is not None:
            return Compare.OFF
        return self.compare

    def _render(self) -> None:
        """Put the shown image (or its comparison with `before`) into the scene."""
        if self.image is None:
            return
        width, height = self._size
        mode = self.comparing
        if mode is Compare.SLIDER and self.before is not None:
            shown = compose_ab(self.before, self.image, width, height, self.divider, line=False)
        elif mode is Compare.SIDE and self.before is not None:
            shown = compose_side_by_side(self.before, self.image, width, height)
        else:
            shown = self.image
        new_rect = QRectF(0, 0, shown.width() if mode is not Compare.OFF else width, height)
        changed = new_rect != self.scene().sceneRect()
        self._item.setPixmap(QPixmap.fromImage(shown))
        self._item.setScale(new_rect.width() / max(shown.width(), 1))
        if changed:
            self.scene().setSceneRect(new_rect)
            if self._fit:
                self.fit()
        self.viewport().update()

    def show_frame(self, frame: Frame) -> None:
        """Show a job's picture at its full size, its batch cells outlined."""
        self.show_image(frame.image, frame.size, frame.count)

    def set_before(self, image: QImage | None) -> None:
        """The input picture the shown result is compared with (None: nothing to compare)."""
        self.before = None if image is None or image.isNull() else image
        self._render()

    def set_compare(self, mode: Compare) -> None:
        mode = Compare(mode)
        if mode is not self.compare:
            self.compare = mode
            self._render()
            self.compare_changed.emit(mode)

    def set_divider(self, fraction: float) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        if fraction != self.divider:
            self.divider = fraction
            if self.comparing is Compare.SLIDER:
                self._render()
            self.divider_moved.emit(fraction)

    @property
    def splitting(self) -> float | None:
        """The fraction of the divider on show (before/after, or a caller's A/B picture), else None."""
        if self.ab is not None:
            return self.ab
        return self.divider if self.comparing is Compare.SLIDER else None

    def _move_divider(self, fraction: float) -> None:
        if self.ab is not None:
            self.ab_moved.emit(min(max(fraction, 0.0), 1.0))
        else:
            self.set_divider(fraction)

    def divider_x(self) -> float:
        """The divider's x in viewport pixels."""
        return self.mapFromScene(QPointF(self.scene().sceneRect().width() * (self.splitting or 0.0), 0)).x()

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

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Near the before/after divider a left press takes it (elsewhere the drag pans)."""
        near = abs(event.position().x() - self.divider_x()) <= GRAB_PX
        if self.splitting is not None and event.button() == Qt.MouseButton.LeftButton and near:
            self._dragging_divider = True
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging_divider:
            scene_x = self.mapToScene(event.position().toPoint()).x()
            self._move_divider(scene_x / max(self.scene().sceneRect().width(), 1.0))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._dragging_divider:
            self._dragging_divider = False
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Left/Right move the before/after divider (Shift: finely)."""
        step = KEY_STEP / 5 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else KEY_STEP
        moves = {Qt.Key.Key_Left: -step, Qt.Key.Key_Right: step}
        split = self.splitting
        if split is not None and event.key() in moves:
            self._move_divider(split + moves[event.key()])
            event.accept()
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """Thin lines between the cells of a batch grid; the compare labels and the divider's handle."""
        if self.comparing is not Compare.OFF or (self.ab is not None and self.image is not None):
            self._draw_compare(painter)
            return
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

    def _draw_compare(self, painter: QPainter) -> None:
        """"Before"/"After" tags (screen-sized, whatever the zoom) and, on the divider, a round handle."""
        scene = self.scene().sceneRect()
        width = self._size[0]
        split = self.splitting
        names = ("Parent", "Branch") if self.ab is not None else ("Before", "After")
        if self.comparing is Compare.SIDE or split is None:
            tags = [(names[0], QPointF(0, 0)), (names[1], QPointF(width + SIDE_GAP, 0))]
        else:
            tags = [(names[0], QPointF(0, 0)), (names[1], QPointF(scene.width() * split, 0))]
        painter.save()
        handle = self.mapFromScene(QPointF(scene.width() * (split or 0.0), scene.height() / 2))
        painter.resetTransform()
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        for text, corner in tags:
            at = self.mapFromScene(corner)
            box = painter.fontMetrics().boundingRect(text).adjusted(-6, -3, 6, 3)
            box.moveTopLeft(at + QPoint(6, 6))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 150))
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        if split is not None:
            top, bottom = self.mapFromScene(QPointF(0, 0)).y(), self.mapFromScene(QPointF(0, scene.height())).y()
            painter.setPen(QPen(QColor(0, 0, 0, 120), 4))
            painter.drawLine(QPointF(handle.x(), top), QPointF(handle.x(), bottom))
            painter.setPen(QPen(QColor(255, 255, 255), 2))
            painter.drawLine(QPointF(handle.x(), top), QPointF(handle.x(), bottom))
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor(40, 40, 40), 1.5))
            painter.setBrush(QBrush(QColor(255, 255, 255)))
            painter.drawEllipse(QPointF(handle), 11, 11)
            painter.setPen(QPen(QColor(40, 40, 40), 2))
            for sign in (-1, 1):
                tip = QPointF(handle.x() + sign * 7, handle.y())
                painter.drawLine(tip, QPointF(handle.x() + sign * 3, handle.y() - 4))
                painter.drawLine(tip, QPointF(handle.x() + sign * 3, handle.y() + 4))
        painter.restore()

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
