"""Pictures as inputs in the window: the Image tab (image-to-image on any model, with a strength
slider and a painted mask) and the editors of the upscale and inpaint conditions.

The picture is shown fitted into the tab with its mask translucent over it. The mask tools are
the map painter's (`map_painter.tools`: names, shortcut keys, icons): Brush (B; the left button
paints the mask, white = repaint, the right button erases), Eraser (E), Rectangle (R, or Shift
with any tool) and Fill (F: the connected region of the mask under the cursor, the painter's
`connected_region`); `[`/`]` change the brush, Ctrl+Z undoes. The feather radius softens the
mask's edge: the tab shows the soft mask the engine will use (`image_inputs.feathered`). A
picture can be opened, dropped on the tab, or sent from the canvas or the history ("Use as
input"). Pictures are read by the core's one limited reader.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.core.errors import LdmStudioError, RequestError
from ldm_studio.core.generation.condition_types import ConditionType
from ldm_studio.core.generation.image_inputs import (
    DEFAULT_STRENGTH,
    MAX_FEATHER,
    InitImage,
    InpaintCondition,
    SuperResCondition,
    feathered,
    read_image,
    read_mask,
)
from ldm_studio.core.maps.map_document import connected_region
from ldm_studio.core.models.model_folder import ModelInfo
from ldm_studio.widgets.map_painter.tools import TOOL_INFO, Tool, tool_icon

PICTURES = "Pictures (*.png *.jpg *.jpeg *.webp *.bmp)"
MASK_COLOUR = QColor(255, 40, 90, 130)


def rgb_qimage(image: np.ndarray) -> QImage:
    height, width = image.shape[:2]
    data = np.ascontiguousarray(image)
    return QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


MASK_TOOLS = (Tool.BRUSH, Tool.ERASER, Tool.RECT, Tool.FILL)  # the painter's tools that make sense on a mask
MASK_TIPS = {
    Tool.BRUSH: "left button paints what is repainted, right button erases",
    Tool.ERASER: "left button erases the mask, right button paints",
    Tool.RECT: "drag a filled rectangle (right button clears one); Shift-drag with any tool too",
    Tool.FILL: "fill the connected region under the cursor (right button clears it)",
}


def mask_qimage(mask: np.ndarray) -> QImage:
    """The mask (bool, or soft weights 0–1) as a translucent colour over transparency."""
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = MASK_COLOUR.red(), MASK_COLOUR.green(), MASK_COLOUR.blue()
    rgba[..., 3] = np.round(np.asarray(mask, dtype=np.float32) * MASK_COLOUR.alpha()).astype(np.uint8)
    height, width = mask.shape
    return QImage(rgba.data, width, height, 4 * width, QImage.Format.Format_RGBA8888).copy()


class MaskView(QWidget):
    """The picture, fitted, with its mask over it; the tools paint (left button) or erase (right) the mask."""

    changed = Signal()
    tool_changed = Signal(object)  # Tool
    brush_changed = Signal(int)

    def __init__(self, paintable: bool) -> None:
        super().__init__()
        self.paintable = paintable
        self.image: np.ndarray | None = None
        self.mask: np.ndarray | None = None
        self.brush = 24  # diameter in picture pixels
        self.tool = Tool.BRUSH
        self.feather = 0  # the soft edge shown (and sent), in picture pixels
        self._soft: QImage | None = None  # the feathered mask's overlay, made when the mask or feather changed
        self.undo_stack: list[np.ndarray] = []
        self._stroke: bool | None = None  # True: painting, False: erasing
        self._last: tuple[float, float] | None = None  # the stroke's last point, in picture pixels
        self._rect: tuple[tuple[float, float], np.ndarray] | None = None  # Shift-drag: corner and mask before
        self._qimage: QImage | None = None
        self._cursor: QPointF | None = None  # where the brush outline is drawn (widget coordinates)
        self.setMinimumSize(160, 120)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setMouseTracking(self.paintable)  # the brush outline follows the pointer
        self.changed.connect(self._forget_soft)

    def set_tool(self, tool: Tool) -> None:
        if tool in MASK_TOOLS and tool is not self.tool:
            self.tool = tool
            self.tool_changed.emit(tool)

    def set_brush(self, size: int) -> None:
        size = min(max(int(size), 2), 512)
        if size != self.brush:
            self.brush = size
            self.brush_changed.emit(size)

    def set_feather(self, radius: int) -> None:
        self.feather = max(0, int(radius))
        self._forget_soft()

    def _forget_soft(self) -> None:
        self._soft = None
        self.update()

    def soft_mask(self) -> np.ndarray | None:
        """The mask as the engine will blend it: the painted mask feathered by `feather` pixels."""
        return None if self.mask is None else feathered(self.mask, self.feather)

    def set_image(self, image: np.ndarray | None, mask: np.ndarray | None = None) -> None:
        self.image = image
        self._qimage = None if image is None else rgb_qimage(image)
        if image is not None and (mask is None or mask.shape != image.shape[:2]):
            mask = None if mask is None else _resized_mask(mask, image.shape[1], image.shape[0])
        self.mask = None if image is None else (mask.copy() if mask is not None else np.zeros(image.shape[:2], bool))
        self.undo_stack.clear()
        self.update()
        self.changed.emit()

    def has_mask(self) -> bool:
        return self.mask is not None and bool(self.mask.any())

    def edit_mask(self, change) -> None:
        """Apply `change(mask) -> mask` as one undoable step."""
        if self.mask is None:
            return
        self.undo_stack.append(self.mask.copy())
        self.mask = change(self.mask)
        self.update()
        self.changed.emit()

    def undo(self) -> None:
        if self.undo_stack:
            self.mask = self.undo_stack.pop()
            self.update()
            self.changed.emit()

    def picture_rect(self) -> QRectF:
        """Where the picture is drawn: fitted and centred."""
        if self.image is None:
            return QRectF()
        height, width = self.image.shape[:2]
        scale = min(self.width() / width, self.height() / height)
        w, h = width * scale, height * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def to_picture(self, pos: QPointF) -> tuple[float, float] | None:
        rect = self.picture_rect()
        if self.image is None or rect.isEmpty():
            return None
        height, width = self.image.shape[:2]
        return (pos.x() - rect.x()) * width / rect.width(), (pos.y() - rect.y()) * height / rect.height()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self._qimage is None:
            painter.setPen(self.palette().text().color())
            text = "Drop a picture here or press Open…"
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, text)
            return
        rect = self.picture_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(rect, self._qimage)
        if self.mask is not None and self.mask.any():
            if self.feather <= 0 or self._stroke is not None:  # while a stroke runs: the hard mask, fast
                painter.drawImage(rect, mask_qimage(self.mask))
            else:
                if self._soft is None:
                    self._soft = mask_qimage(feathered(self.mask, self.feather))
                painter.drawImage(rect, self._soft)
        if self._cursor is not None and self.tool in (Tool.BRUSH, Tool.ERASER) and self.image is not None:
            radius = self.brush / 2 * rect.width() / self.image.shape[1]
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for colour, width in ((QColor(0, 0, 0, 160), 3.0), (QColor(255, 255, 255, 220), 1.2)):
                painter.setPen(QPen(colour, width))
                painter.drawEllipse(self._cursor, radius, radius)

    def leaveEvent(self, event) -> None:
        self._cursor = None
        self.update()

    def mousePressEvent(self, event) -> None:
        if not self.paintable or self.mask is None:
            return
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        left = event.button() == Qt.MouseButton.LeftButton
        self._stroke = not left if self.tool is Tool.ERASER else left
        self._last = None
        corner = self.to_picture(event.position())
        if self.tool is Tool.FILL:
            self._stroke = None
            if corner is not None:
                self.fill(int(corner[0]), int(corner[1]), left)
            return
        self.undo_stack.append(self.mask.copy())
        shift = event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        if (shift or self.tool is Tool.RECT) and corner is not None:
            self._rect = (corner, self.mask.copy())
            self._rectangle(event.position())
        else:
            self._dab(event.position())

    def fill(self, x: int, y: int, value: bool = True) -> int:
        """Set the connected region of the mask under picture pixel (x, y) to `value` (one undoable
        step, as the map painter's fill); returns how many pixels changed."""
        if self.mask is None:
            return 0
        height, width = self.mask.shape
        if not (0 <= x < width and 0 <= y < height):
            return 0
        region = connected_region(self.mask, x, y)
        changed = int((self.mask[region] != value).sum())
        if changed:
            self.edit_mask(lambda mask: np.where(region, value, mask))
        return changed

    def mouseMoveEvent(self, event) -> None:
        if self.paintable:
            self._cursor = event.position()
            self.update()
        if self._rect is not None:
            self._rectangle(event.position())
        elif self._stroke is not None:
            self._dab(event.position())

    def mouseReleaseEvent(self, event) -> None:
        if self._stroke is not None:
            self._stroke = None
            self._rect = None
            self.changed.emit()

    def _rectangle(self, pos: QPointF) -> None:
        """The mask before the drag, with the rectangle from the pressed corner to `pos` set (or cleared)."""
        point = self.to_picture(pos)
        if point is None or self._rect is None:
            return
        (x0, y0), before = self._rect
        height, width = before.shape
        left, right = sorted((x0, point[0]))
        top, bottom = sorted((y0, point[1]))
        self.mask = before.copy()
        cols = slice(max(0, int(left)), min(width, int(right) + 1))
        rows = slice(max(0, int(top)), min(height, int(bottom) + 1))
        self.mask[rows, cols] = bool(self._stroke)
        self.update()

    def _own_key(self, event) -> bool:
        keys = {Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight, *(_tool_key(tool) for tool in MASK_TOOLS)}
        return event.key() in keys and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier

    def event(self, event) -> bool:
        """The tool keys are this view's while it has focus (the map painter's same keys are window shortcuts)."""
        if event.type() == QEvent.Type.ShortcutOverride and self.paintable and self._own_key(event):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        keys = {_tool_key(tool): tool for tool in MASK_TOOLS}
        if event.key() == Qt.Key.Key_BracketLeft:
            self.set_brush(self.brush - 4)
        elif event.key() == Qt.Key.Key_BracketRight:
            self.set_brush(self.brush + 4)
        elif event.key() in keys and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            self.set_tool(keys[event.key()])
        else:
            super().keyPressEvent(event)

    def _dab(self, pos: QPointF) -> None:
        """Paint discs from the stroke's last point to `pos` (a fast drag still paints a line)."""
        point = self.to_picture(pos)
        if point is None or self.mask is None:
            return
        start = self._last or point
        self._last = point
        height, width = self.mask.shape
        ys, xs = np.ogrid[0:height, 0:width]
        radius = self.brush / 2
        count = max(1, int(np.hypot(point[0] - start[0], point[1] - start[1]) / max(1.0, radius / 2)))
        for i in range(1, count + 1):
            x = start[0] + (point[0] - start[0]) * i / count
            y = start[1] + (point[1] - start[1]) * i / count
            self.mask[(xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2 <= radius**2] = bool(self._stroke)
        self.update()


def _tool_key(tool: Tool) -> Qt.Key:
    return QKeySequence(TOOL_INFO[tool][1])[0].key()


def _resized_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    from ldm_studio.core.generation.img2img import resized_mask

    return resized_mask(mask, width, height)


class PictureTab(QWidget):
    """A picture input with an optional painted mask and an optional strength slider."""

    title: ClassVar[str] = "Image"
    restored_name: ClassVar[str] = "input picture"
    with_mask: ClassVar[bool] = True
    with_strength: ClassVar[bool] = True
    with_feather: ClassVar[bool] = False  # a soft mask edge (only image-to-image blends with one)
    hint: ClassVar[str] = ""

    message = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.view = MaskView(paintable=self.with_mask)
        self.info_label = QLabel(self.hint)
        self.info_label.setWordWrap(True)
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(self.ask_image)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.reset)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.info_label)
        layout.addWidget(self.view, 1)
        if self.with_mask:
            self.mask_open = QPushButton("Mask…")
            self.mask_open.setToolTip("Open a mask picture: white is repainted")
            self.mask_open.clicked.connect(self.ask_mask)
            self.invert_button = QPushButton("Invert mask")
            self.invert_button.clicked.connect(lambda: self.view.edit_mask(np.logical_not))
            self.clear_mask_button = QPushButton("Clear mask")
            self.clear_mask_button.clicked.connect(lambda: self.view.edit_mask(np.zeros_like))
            self.brush = QSpinBox(minimum=2, maximum=512, value=self.view.brush, suffix=" px")
            self.brush.setToolTip("Brush size ([ and ] on the picture)")
            self.brush.valueChanged.connect(self.view.set_brush)
            self.view.brush_changed.connect(self.brush.setValue)
            buttons.addWidget(self.mask_open)
            tool_row = QHBoxLayout()
            self.tool_buttons: dict[Tool, QToolButton] = {}
            group = QButtonGroup(self)
            for tool in MASK_TOOLS:
                name, key, _ = TOOL_INFO[tool]
                button = QToolButton()
                button.setIcon(tool_icon(tool))
                button.setCheckable(True)
                button.setChecked(tool is self.view.tool)
                button.setToolTip(f"{name} ({key}): {MASK_TIPS[tool]}")
                button.setAccessibleName(name)
                button.clicked.connect(lambda _=False, t=tool: self.view.set_tool(t))
                group.addButton(button)
                tool_row.addWidget(button)
                self.tool_buttons[tool] = button
            self.view.tool_changed.connect(lambda tool: self.tool_buttons[tool].setChecked(True))
            tool_row.addWidget(self.brush)
            mask_row = QHBoxLayout()
            for widget in (self.invert_button, self.clear_mask_button):
                mask_row.addWidget(widget)
            if self.with_feather:
                self.feather = QSpinBox(minimum=0, maximum=MAX_FEATHER, value=0, suffix=" px")
                self.feather.setToolTip(
                    "Feather: the mask's edge is blurred by this many pixels, so the repainted part fades "
                    "into the picture (0: a hard edge)"
                )
                self.feather.valueChanged.connect(self.view.set_feather)
                tool_row.addWidget(QLabel("Feather"))
                tool_row.addWidget(self.feather)
            tool_row.addStretch(1)
            mask_row.addStretch(1)
            undo = QShortcut(QKeySequence.StandardKey.Undo, self.view)
            undo.activated.connect(self.view.undo)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        if self.with_mask:
            layout.addLayout(tool_row)
            layout.addLayout(mask_row)
        if self.with_strength:
            self.strength = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
            self.strength.setValue(round(DEFAULT_STRENGTH * 100))
            self.strength_label = QLabel()
            self.strength.valueChanged.connect(self._show_strength)
            self._show_strength()
            row = QHBoxLayout()
            row.addWidget(QLabel("Strength"))
            row.addWidget(self.strength, 1)
            row.addWidget(self.strength_label)
            layout.addLayout(row)
        self.view.changed.connect(self._show_size)

    # --- the picture ---------------------------------------------------------------------------------

    def set_picture(self, image: np.ndarray | None, mask: np.ndarray | None = None) -> None:
        self.view.set_image(image, mask)

    def load_file(self, path: str) -> bool:
        try:
            self.set_picture(read_image(path))
        except LdmStudioError as exc:
            self.message.emit(str(exc))
            return False
        return True

    def load_mask_file(self, path: str) -> bool:
        if self.view.image is None:
            self.message.emit("Open a picture before its mask.")
            return False
        try:
            mask = read_mask(path)
        except LdmStudioError as exc:
            self.message.emit(str(exc))
            return False
        height, width = self.view.image.shape[:2]
        self.view.edit_mask(lambda _old: _resized_mask(mask, width, height))
        return True

    def ask_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open picture", "", PICTURES)
        if path:
            self.load_file(path)

    def ask_mask(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open mask", "", PICTURES)
        if path:
            self.load_mask_file(path)

    def strength_value(self) -> float:
        return self.strength.value() / 100 if self.with_strength else 1.0

    def set_strength(self, value: float) -> None:
        if self.with_strength:
            self.strength.setValue(round(value * 100))

    def _show_strength(self) -> None:
        self.strength_label.setText(f"{self.strength.value() / 100:.2f}")

    def _show_size(self) -> None:
        image = self.view.image
        if image is None:
            self.info_label.setText(self.hint)
            return
        masked = f", {int(self.view.mask.sum())} px masked" if self.view.has_mask() else ""
        self.info_label.setText(f"{self.hint} {image.shape[1]}×{image.shape[0]}{masked}".strip())

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.load_file(urls[0])
            event.acceptProposedAction()

    # --- the editor protocol -----------------------------------------------------------------------

    def reset(self) -> None:
        self.set_picture(None)

    def set_model(self, info: ModelInfo | None, optional: bool) -> None:
        pass

    def image_count(self) -> int | None:
        return None


class InitImageTab(PictureTab):
    """Image-to-image on any model: the picture to start from, its strength, and what to repaint."""

    hint = "Start from a picture (image-to-image); paint the part to repaint, or leave the mask empty."
    with_feather = True

    def init(self) -> InitImage | None:
        """The start the tab describes, or None without a picture."""
        if self.view.image is None:
            return None
        mask = self.view.mask if self.view.has_mask() else None
        feather = self.feather.value() if mask is not None else 0
        return InitImage(self.view.image, self.strength_value(), mask, feather=feather)

    def restore_init(self, init: InitImage | None, strength: float | None) -> None:
        self.set_picture(None if init is None else init.image, None if init is None else init.mask)
        if init is not None:
            self.feather.setValue(init.feather)
        if strength is not None:
            self.set_strength(strength)


class UpscaleTab(PictureTab):
    """The low-resolution picture of a super-resolution model."""

    title = "Upscale"
    restored_name = "picture to upscale"
    with_mask = False
    with_strength = False
    hint = "The picture to upscale (×4)."

    def condition(self, required: bool) -> SuperResCondition | None:
        if self.view.image is None:
            if required:
                raise RequestError("image", "open the picture to upscale first")
            return None
        return SuperResCondition(self.view.image)

    def restore(self, condition: ConditionType) -> str | None:
        assert isinstance(condition, SuperResCondition)
        self.set_picture(condition.image)
        return None


class InpaintTab(PictureTab):
    """The picture and painted mask of an inpainting model."""

    title = "Inpaint"
    restored_name = "picture and mask"
    with_strength = False
    hint = "Paint over what the inpainting model repaints."

    def condition(self, required: bool) -> InpaintCondition | None:
        if self.view.image is None:
            if required:
                raise RequestError("image", "open the picture to inpaint first")
            return None
        if not self.view.has_mask():
            raise RequestError("mask", "paint the region to repaint first")
        return InpaintCondition(self.view.image, self.view.mask)

    def restore(self, condition: ConditionType) -> str | None:
        assert isinstance(condition, InpaintCondition)
        self.set_picture(condition.image, condition.mask)
        return None
