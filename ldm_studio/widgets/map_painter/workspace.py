"""The central area of a map model: the map beside the output, or over it, or the output alone.

View modes, in the terms GauGAN and NVIDIA Canvas users know: side by side (paint left, see
right), overlay (the map translucent over the latest picture, still paintable) and output.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.widgets.canvas import ImageCanvas
from ldm_studio.widgets.map_painter.editor import MapEditor

MODES = ("Side by side", "Overlay", "Output")


class CanvasArea(QWidget):
    """Output canvas plus, for map models, the map editor in one of the view modes."""

    def __init__(self, output: ImageCanvas, editor: MapEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.output = output
        self.editor = editor
        self.mode = MODES[0]
        self.map_model = False
        self.bar = QWidget()
        bar = QHBoxLayout(self.bar)
        bar.setContentsMargins(6, 3, 6, 3)
        bar.addWidget(QLabel("View"))
        self.mode_buttons = QButtonGroup(self)
        for i, name in enumerate(MODES):
            button = QToolButton()
            button.setText(name)
            button.setCheckable(True)
            button.setAutoRaise(True)
            self.mode_buttons.addButton(button, i)
            bar.addWidget(button)
        self.mode_buttons.button(0).setChecked(True)
        bar.addSpacing(16)
        self.opacity_label = QLabel("Map opacity")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(editor.canvas.overlay_opacity * 100))
        self.opacity.setFixedWidth(140)
        self.opacity.setToolTip("How strongly the map covers the picture in overlay mode")
        bar.addWidget(self.opacity_label)
        bar.addWidget(self.opacity)
        bar.addStretch(1)
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit map")
        self.fit_button.setAutoRaise(True)
        self.fit_button.clicked.connect(editor.canvas.fit)
        bar.addWidget(self.fit_button)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(editor)
        self.splitter.addWidget(output)
        self.splitter.setSizes([1, 1])
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.bar)
        column.addWidget(self.splitter, 1)
        self.mode_buttons.idClicked.connect(lambda i: self.set_mode(MODES[i]))
        self.opacity.valueChanged.connect(self._opacity_changed)
        self.set_map_model(False)

    def set_map_model(self, on: bool) -> None:
        """Show the painter only for models that take a map."""
        self.map_model = on
        self.bar.setVisible(on)
        self.set_mode(self.mode)

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.mode_buttons.button(MODES.index(mode)).setChecked(True)
        painting = self.map_model and mode != "Output"
        self.editor.setVisible(painting)
        self.output.setVisible(not painting or mode == "Side by side")
        self.editor.canvas.overlay = mode == "Overlay"
        for widget in (self.opacity_label, self.opacity):
            widget.setEnabled(mode == "Overlay")
        self.editor.canvas.update()

    def set_output_image(self, image: QImage) -> None:
        """The latest output (the first image of a batch), shown under the map in overlay mode."""
        self.editor.canvas.underlay = image
        self.editor.canvas.update()

    def _opacity_changed(self, value: int) -> None:
        self.editor.canvas.overlay_opacity = value / 100
        self.editor.canvas.update()
