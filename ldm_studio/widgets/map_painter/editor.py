"""The editing surface: a vertical tool bar (tools, brush size, undo/redo) beside the map canvas.

Its actions carry the painter's shortcuts (B L R F E I, [ ], Ctrl+Z, Ctrl+Shift+Z); they
are window-wide but disabled while no map model is loaded, and text fields keep their keys.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QHBoxLayout, QLabel, QSpinBox, QToolBar, QVBoxLayout, QWidget

from ldm_studio.core.maps.labels import LabelSet
from ldm_studio.core.maps.map_document import LabelMap
from ldm_studio.widgets.map_painter.canvas import MapCanvas
from ldm_studio.widgets.map_painter.tools import MAX_SIZE, MIN_SIZE, TOOL_INFO, Tool, tool_icon


class MapEditor(QWidget):
    """Tools + canvas; reports finished strokes and history changes upward."""

    changed = Signal(str)  # any change of the map's pixels by the person (stroke, undo, ...)

    def __init__(self, document: LabelMap, labels: LabelSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = MapCanvas(document, labels)
        self.toolbar = QToolBar("Map tools")
        self.toolbar.setOrientation(Qt.Orientation.Vertical)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.tool_actions: dict[Tool, QAction] = {}
        group = QActionGroup(self)
        for tool, (text, key, tip) in TOOL_INFO.items():
            act = QAction(tool_icon(tool), text, self)
            act.setCheckable(True)
            act.setShortcut(QKeySequence(key))
            act.setToolTip(f"{text} ({key}): {tip}")
            act.triggered.connect(lambda _=False, t=tool: self.set_tool(t))
            group.addAction(act)
            self.toolbar.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions[Tool.BRUSH].setChecked(True)
        self.toolbar.addSeparator()
        self.size_box = QSpinBox()
        self.size_box.setRange(MIN_SIZE, MAX_SIZE)
        self.size_box.setValue(self.canvas.brush_size)
        self.size_box.setToolTip("Brush size in map pixels ([ smaller, ] larger)")
        self.size_box.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
        self.size_box.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.size_box.setFixedWidth(40)
        self.toolbar.addWidget(_caption("size"))
        self.toolbar.addWidget(self.size_box)
        self.smaller_action = self._action("Smaller brush", "[", lambda: self.step_size(-1))
        self.larger_action = self._action("Larger brush", "]", lambda: self.step_size(1))
        self.toolbar.addSeparator()
        self.undo_action = self._action("Undo", "Ctrl+Z", self.undo)
        self.redo_action = self._action("Redo", "Ctrl+Shift+Z", self.redo, "Ctrl+Y")
        self.undo_action.setText("↶")
        self.redo_action.setText("↷")
        self.toolbar.addAction(self.undo_action)
        self.toolbar.addAction(self.redo_action)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        column = QVBoxLayout()
        column.addWidget(self.toolbar)
        row.addLayout(column)
        row.addWidget(self.canvas, 1)
        self.size_box.valueChanged.connect(self.canvas.set_brush_size)
        self.canvas.stroke_finished.connect(self._stroke_finished)
        self.update_history()

    def _action(self, text: str, key, slot, *more: str) -> QAction:
        act = QAction(text, self)
        act.setShortcuts([QKeySequence(key), *(QKeySequence(k) for k in more)])
        act.setToolTip(f"{text} ({QKeySequence(key).toString()})")
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    @property
    def actions_with_keys(self) -> list[QAction]:
        keys = [self.smaller_action, self.larger_action, self.undo_action, self.redo_action]
        return [*self.tool_actions.values(), *keys]

    def step_size(self, direction: int) -> None:
        self.size_box.setValue(_step(self.size_box.value(), direction))

    def set_tool(self, tool: Tool) -> None:
        self.canvas.tool = tool
        self.tool_actions[tool].setChecked(True)
        self.canvas.update()

    def set_keys_enabled(self, enabled: bool) -> None:
        """Shortcuts work only while the map painter is in use."""
        for act in self.actions_with_keys:
            act.setEnabled(enabled)
        if enabled:
            self.update_history()

    def undo(self) -> None:
        if self.canvas.document.undo():
            self.canvas.refresh()
            self.changed.emit("Undo")
        self.update_history()

    def redo(self) -> None:
        if self.canvas.document.redo():
            self.canvas.refresh()
            self.changed.emit("Redo")
        self.update_history()

    def update_history(self) -> None:
        doc = self.canvas.document
        self.undo_action.setToolTip(f"Undo {doc.undo_name} (Ctrl+Z)" if doc.can_undo else "Nothing to undo")
        self.redo_action.setToolTip(f"Redo {doc.redo_name} (Ctrl+Shift+Z)" if doc.can_redo else "Nothing to redo")

    def _stroke_finished(self, name: str) -> None:
        self.update_history()
        self.changed.emit(name)


def _step(size: int, direction: int) -> int:
    """Brush sizes move in ~20% steps, at least one pixel."""
    delta = max(1, round(size * 0.2))
    return min(max(size + direction * delta, MIN_SIZE), MAX_SIZE)


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("color: palette(mid); font-size: 10px;")
    return label
