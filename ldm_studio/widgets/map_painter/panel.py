"""The semantic-map tab: the painted document, palette, templates, map files and live mode.

The tab owns the document and the editor (tools + canvas). On its own it shows the editor
inside itself; the main window moves the editor into the central area, beside the output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.core.errors import LdmStudioError, RequestError
from ldm_studio.core.generation.condition_types import ConditionType, SemanticMapCondition
from ldm_studio.core.generation.region_types import RegionalCondition
from ldm_studio.core.maps.display_colors import display_color
from ldm_studio.core.maps.label_translation import translate_map
from ldm_studio.core.maps.labels import LabelSet, load_label_set
from ldm_studio.core.maps.map_document import LabelMap
from ldm_studio.core.maps.map_files import OpenedMap, open_map_image
from ldm_studio.core.maps.map_templates import make_template, template_names
from ldm_studio.core.maps.semantic_maps import write_map_file
from ldm_studio.core.models.model_folder import ModelInfo
from ldm_studio.widgets.map_painter.editor import MapEditor
from ldm_studio.widgets.map_painter.palette import PaletteView
from ldm_studio.widgets.map_painter.region_list import RegionList

DEFAULT_LABEL_SET = "coco-stuff-182"
DEFAULT_SIZE = 256
# what the eraser paints and a fresh map holds: the sky, as in GauGAN
BACKGROUND_NAMES = {"coco-stuff-182": "sky-other", "ade20k-150": "sky"}
FIRST_LABEL_NAMES = {"coco-stuff-182": "grass", "ade20k-150": "grass"}
MAP_FILTER = "Label maps (*.png *.bmp *.tif *.tiff *.jpg *.jpeg *.webp);;All files (*)"


class MapTab(QWidget):
    """Paint or open the semantic map a model is conditioned on."""

    changed = Signal(str)  # the person changed the map (stroke, undo, template, open, ...)
    message = Signal(str)  # a status-bar note

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label_set = DEFAULT_LABEL_SET
        self.labels: LabelSet = load_label_set(self.label_set)
        self.background = self.labels.index_of(BACKGROUND_NAMES[self.label_set])
        self.document = LabelMap(DEFAULT_SIZE, DEFAULT_SIZE, self.label_set, fill=self.background)
        self.editor = MapEditor(self.document, self.labels)
        self.canvas = self.editor.canvas
        self.message_box: QMessageBox | None = None

        self.cursor_label = QLabel()
        self.cursor_label.setMinimumWidth(180)
        self.current_swatch = QLabel()
        self.current_name = QLabel()
        self.background_name = QLabel()
        self.background_name.setStyleSheet("color: palette(mid);")
        self.palette = PaletteView()
        self.regions = RegionList()
        self.regions.hide()  # shown for families that take a prompt per region
        self.template_box = QComboBox()
        self.template_box.addItems(template_names(self.labels))
        self.template_button = QPushButton("New from template")
        self.clear_button = QPushButton("Clear")
        self.open_button = QPushButton("Open map…")
        self.save_button = QPushButton("Save map…")
        self.live_box = QCheckBox("Live: generate as you paint")
        self.live_box.setToolTip("Each finished stroke starts a new picture after a short pause, replacing a stale one")
        self.use_map_box = QCheckBox("Use the map")
        self.use_map_box.setChecked(True)
        self.use_map_box.setToolTip("This model can also run without a map; an unpainted map counts as none")
        self.use_map_box.hide()
        self.info = QLabel("Paint with the tools, pick a template, or open a map file.")
        self.info.setWordWrap(True)
        self._build_layout()

        self.palette.label_chosen.connect(self.set_label)
        self.palette.background_chosen.connect(self.set_background)
        self.canvas.label_picked.connect(self.set_label)
        self.canvas.hovered.connect(self._show_cursor)
        self.editor.changed.connect(self._edited)
        self.template_button.clicked.connect(lambda: self.apply_template(self.template_box.currentText()))
        self.clear_button.clicked.connect(self.clear)
        self.open_button.clicked.connect(self._ask_open)
        self.save_button.clicked.connect(self._ask_save)
        self.regions.edited.connect(lambda: self.changed.emit("Region texts"))
        self.palette.set_label_set(self.labels)
        self.set_label(self.labels.index_of(FIRST_LABEL_NAMES[self.label_set]))
        self.set_background(self.background)

    def _build_layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor, 1)  # until the window moves it beside the output
        layout.addWidget(self.cursor_label)
        current = QHBoxLayout()
        current.addWidget(self.current_swatch)
        names = QVBoxLayout()
        names.addWidget(self.current_name)
        names.addWidget(self.background_name)
        current.addLayout(names, 1)
        layout.addLayout(current)
        layout.addWidget(self.palette)
        layout.addWidget(self.regions)
        grid = QGridLayout()
        grid.addWidget(self.template_box, 0, 0, 1, 2)
        grid.addWidget(self.template_button, 1, 0)
        grid.addWidget(self.clear_button, 1, 1)
        grid.addWidget(self.open_button, 2, 0)
        grid.addWidget(self.save_button, 2, 1)
        layout.addLayout(grid)
        layout.addWidget(self.live_box)
        layout.addWidget(self.use_map_box)
        layout.addWidget(self.info)

    def take_editor(self) -> tuple[MapEditor, QLabel]:
        """Hand the editor and the cursor readout to the window (out of this tab's layout)."""
        self.layout().removeWidget(self.editor)
        self.layout().removeWidget(self.cursor_label)
        return self.editor, self.cursor_label

    # --- model --------------------------------------------------------------------------------

    def set_model(self, info: ModelInfo | None, optional: bool) -> None:
        """Follow the loaded model: its label set (translating a painted map) and its map resolution.

        `info` is None when the loaded model takes no map; `optional` when the map is one of
        several optional inputs (a "use the map" box then decides).
        """
        self.use_map_box.setVisible(info is not None and optional)
        self.editor.set_keys_enabled(info is not None)
        if info is None:
            return
        label_set = info.label_set or DEFAULT_LABEL_SET
        size = info.resolution
        if label_set != self.label_set:
            self._switch_label_set(label_set)
        if self.document.blank and self.document.shape != (size, size):
            self._new_document(size, size)

    def _switch_label_set(self, label_set: str) -> None:
        old = self.labels
        self.label_set = label_set
        self.labels = load_label_set(label_set)
        self.background = self.labels.index_of(BACKGROUND_NAMES.get(label_set, self.labels[0].name))
        if self.document.blank:
            self._new_document(*self.document.shape)
        else:
            result = translate_map(self.document.indices, old, self.labels, self.background)
            doc = LabelMap(*self.document.shape, label_set, fill=self.background)
            doc.replace(result.indices, f"Translate to {label_set}")
            self._use_document(doc)
            note = f"Map translated from {old.name} to {label_set}"
            if result.untranslated:
                note += f"; {result.report()} (painted as {self.labels[self.background].name})"
            self._report(note)
        self.palette.set_label_set(self.labels)
        self.template_box.clear()
        self.template_box.addItems(template_names(self.labels))  # ADE20K adds its own layouts
        self.set_label(self.labels.index_of(FIRST_LABEL_NAMES.get(label_set, self.labels[0].name)))
        self.set_background(self.background)

    def _new_document(self, height: int, width: int) -> None:
        self._use_document(LabelMap(height, width, self.label_set, fill=self.background))

    def _use_document(self, doc: LabelMap) -> None:
        self.document = doc
        self.canvas.set_document(doc, self.labels)
        self.editor.update_history()

    # --- what the model gets -------------------------------------------------------------------

    @property
    def label_map(self) -> np.ndarray | None:
        """The painted map, or None while nothing has been painted, opened or templated."""
        return None if self.document.blank else self.document.indices.copy()

    # --- the conditioning panel's editor protocol (widgets.condition_editors) -------------------

    title = "Semantic map"
    restored_name = "semantic map"

    def condition(self, required: bool) -> SemanticMapCondition | None:
        return self.map_condition(required)

    def restore(self, condition: ConditionType) -> str | None:
        assert isinstance(condition, SemanticMapCondition)
        self.set_map(condition.label_map, condition.label_set)
        self.use_map_box.setChecked(True)  # a multi-input model then uses it
        return None

    def reset(self) -> None:
        self.clear()  # one undo step: Ctrl+Z in the painter brings the map back
        self.use_map_box.setChecked(False)

    def image_count(self) -> int | None:
        return None

    def map_condition(self, required: bool) -> SemanticMapCondition | None:
        """The map for a request; `required` (semantic models) turns "no map" into a RequestError."""
        if not required and not self.use_map_box.isChecked():
            return None
        indices = self.label_map
        if indices is None:
            if required:
                raise RequestError("map", "paint a map, start from a template or open a map file first")
            return None
        return SemanticMapCondition(indices, self.label_set)

    # --- actions ------------------------------------------------------------------------------

    def set_label(self, index: int) -> None:
        self.canvas.label = int(index)
        label = self.labels[index]
        pixmap = QPixmap(36, 36)
        pixmap.fill(QColor(*display_color(label)))
        self.current_swatch.setPixmap(pixmap)
        self.current_name.setText(f"<b>{label.name}</b> ({index})")
        self.palette.set_current(index)

    def set_background(self, index: int) -> None:
        self.background = int(index)
        self.canvas.background = self.background
        self.background_name.setText(f"Eraser: {self.labels[index].name}")

    def apply_template(self, name: str) -> None:
        h, w = self.document.shape
        self.document.replace(make_template(name, self.labels, h, w), f"Template: {name}")
        self._after_whole_change(f"Template: {name}")

    def clear(self) -> None:
        self.document.clear(self.background)
        self._after_whole_change("Clear")

    def load(self, path: str | Path) -> OpenedMap:
        """Open a map file into the painter (undoable); LdmStudioError naming the file when it cannot be a map."""
        opened = open_map_image(path, self.label_set, fallback=self.background)
        self.document.replace(opened.indices, f"Open {Path(path).name}")
        self.info.setText(f"{Path(path).name}: {opened.summary()}")
        self._after_whole_change(f"Open {Path(path).name}")
        self.message.emit(self.info.text())
        return opened

    def set_map(self, indices: np.ndarray, label_set: str, name: str = "From the recipe") -> None:
        """Put a map in place (a restored recipe's), translated when it is in the other label set."""
        arr = np.asarray(indices, dtype=np.int64)
        note = f"{name}: {arr.shape[1]}×{arr.shape[0]}, {label_set}"
        if label_set != self.label_set:
            result = translate_map(arr, label_set, self.labels, self.background)
            arr = result.indices
            note += f", translated to {self.label_set}" + (f"; {result.report()}" if result.untranslated else "")
        self.document.replace(arr, name)
        self.info.setText(note)
        self._after_whole_change(name)

    def open_file(self, path: str | Path) -> bool:
        """`load` for the person: a refused file is explained in a message box, the app carries on."""
        try:
            self.load(path)
        except LdmStudioError as exc:
            self._report(str(exc), warn=True)
            return False
        return True

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        if target.suffix.lower() != ".png":
            target = target.with_suffix(".png")
        write_map_file(target, self.document.indices, self.labels)
        self._report(f"Saved map {target.name} ({self.label_set}, palette embedded)")
        return target

    def _ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open semantic map", "", MAP_FILTER)
        if path:
            self.open_file(path)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save semantic map", "map.png", "Indexed PNG (*.png)")
        if path:
            try:
                self.save(path)
            except (OSError, LdmStudioError) as exc:
                self._report(f"{path}: cannot be saved ({getattr(exc, 'strerror', None) or exc})", warn=True)

    def _after_whole_change(self, name: str) -> None:
        self.canvas.refresh()
        self.editor.update_history()
        self.update_regions()
        self.changed.emit(name)

    def _edited(self, name: str) -> None:
        self.update_regions()
        self.changed.emit(name)

    # --- a prompt per painted region ----------------------------------------------------------

    def set_regions_available(self, available: bool, map_only_for_regions: bool = False) -> None:
        """Show the region list (the family takes region prompts); a map that is there only for its
        regions (Stable Diffusion, the text LDM) turns them on; where the model takes the map itself
        they are the person's choice (typing a text turns them on)."""
        self.regions.setVisible(available)
        self.regions.enabled_box.setChecked(available and map_only_for_regions)
        self.update_regions()

    def update_regions(self) -> None:
        """The region list's rows: the labels painted now (none while the map is blank)."""
        present = [] if self.document.blank else sorted(self.document.used_labels())
        self.regions.set_labels(self.labels, present)

    def restore_regions(self, condition: RegionalCondition) -> None:
        """A recipe's region prompts: its map (unless already in place) and its texts."""
        semantic = condition.semantic
        if semantic.label_set != self.label_set or not np.array_equal(self.document.indices, semantic.label_map):
            self.set_map(semantic.label_map, semantic.label_set)
            self.use_map_box.setChecked(True)
        self.update_regions()
        self.regions.restore(condition.texts)

    def with_regions(self, condition: ConditionType) -> ConditionType:
        """`condition` with the region texts, when the list is shown and on and a map is in use."""
        if self.regions.isHidden() or not self.regions.active:
            return condition
        return self.regions.apply(condition, self.map_condition(required=False))

    def _report(self, text: str, warn: bool = False) -> None:
        self.info.setText(text)
        self.message.emit(text)
        if warn:
            box = QMessageBox(QMessageBox.Icon.Warning, "Semantic map", text, QMessageBox.StandardButton.Ok, self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()  # not exec(): painting (and tests) carry on behind it
            self.message_box = box

    def _show_cursor(self, x: int, y: int) -> None:
        label = self.document.label_at(x, y) if x >= 0 else None
        self.cursor_label.setText("" if label is None else f"{self.labels[label].name} ({label})  ·  {x}, {y}")
