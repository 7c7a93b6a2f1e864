"""The region list beside the palette: one editable text per label painted in the map.

Each label present in the map gets a row (its swatch, its name, a text box whose default is the
label's name: "sea" → "a stormy sea with white foam"); rows follow the painting. With "Prompt per
region" on, the request carries the texts (`RegionalCondition`): each steers only its region.
Texts typed for a label are kept while it is painted out and back in.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from ldm_studio.core.generation.condition_types import ConditionType, SemanticMapCondition
from ldm_studio.core.generation.region_types import MAX_REGIONS, RegionalCondition
from ldm_studio.core.maps.display_colors import display_color
from ldm_studio.core.maps.labels import LabelSet


class RegionList(QWidget):
    """Editable region texts for the labels painted in the map."""

    edited = Signal()  # a text or the "prompt per region" box changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.enabled_box = QCheckBox("Prompt per region")
        self.enabled_box.setToolTip(
            "Each painted label gets its own text, which steers only the pixels of that label "
            "(the prompt still steers the whole picture)"
        )
        self.note = QLabel("Region texts: each steers only its painted region; empty = the label's name.")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(mid);")
        self.rows = QGridLayout()
        self.rows.setColumnStretch(2, 1)
        self.rows.setHorizontalSpacing(6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.addWidget(self.enabled_box)
        layout.addWidget(self.note)
        layout.addLayout(self.rows)
        self.edits: dict[str, QLineEdit] = {}  # label name → its text box, for the labels present
        self.kept: dict[str, str] = {}  # every text typed, by label name (painted out and back: kept)
        self.names: list[str] = []
        self.enabled_box.toggled.connect(lambda _on: self.edited.emit())

    # --- rows follow the map ------------------------------------------------------------------

    def set_labels(self, labels: LabelSet, present: Sequence[int]) -> None:
        """One row per label index in `present` (the map's labels, in index order)."""
        names = [labels[i].name for i in present][:MAX_REGIONS]
        if names == self.names:
            return
        while self.rows.count():
            item = self.rows.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.edits = {}
        self.names = names
        for row, index in enumerate(present[:MAX_REGIONS]):
            label = labels[index]
            swatch = QLabel()
            pixmap = QPixmap(16, 16)
            pixmap.fill(QColor(*display_color(label)))
            swatch.setPixmap(pixmap)
            name = QLabel(label.name)
            edit = QLineEdit(self.kept.get(label.name, ""))
            edit.setPlaceholderText(label.name)
            edit.setToolTip(f"What the {label.name} region should be, in words")
            edit.textEdited.connect(lambda text, n=label.name: self._typed(n, text))
            self.rows.addWidget(swatch, row, 0)
            self.rows.addWidget(name, row, 1, Qt.AlignmentFlag.AlignLeft)
            self.rows.addWidget(edit, row, 2)
            self.edits[label.name] = edit

    def _typed(self, name: str, text: str) -> None:
        self.kept[name] = text
        if text and not self.enabled_box.isChecked():
            self.enabled_box.setChecked(True)  # typing a region's text means using it (emits edited)
        else:
            self.edited.emit()

    # --- what the request gets ----------------------------------------------------------------

    def texts(self) -> dict[str, str]:
        """The typed texts of the labels present (an empty box: the label's name, left out here)."""
        return {name: edit.text() for name, edit in self.edits.items() if edit.text().strip()}

    @property
    def active(self) -> bool:
        return self.enabled_box.isChecked()

    def apply(self, condition: ConditionType, semantic: SemanticMapCondition | None) -> ConditionType:
        """`condition` with the region texts of `semantic`'s labels, when the list is on and there is a map."""
        if not self.active or semantic is None:
            return condition
        return RegionalCondition.build(condition, semantic, self.texts())

    def restore(self, texts: dict[str, str]) -> None:
        """A recipe's texts (the label's own name is shown as the empty default)."""
        self.kept.update({name: ("" if text == name else text) for name, text in texts.items()})
        for name, edit in self.edits.items():
            edit.setText(self.kept.get(name, ""))
        self.enabled_box.setChecked(True)

    def reset(self) -> None:
        self.enabled_box.setChecked(False)
