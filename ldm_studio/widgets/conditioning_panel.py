"""What to condition on, showing only the inputs the loaded model's family understands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.core.errors import LdmStudioError, RequestError
from ldm_studio.core.model_folder import ModelInfo
from ldm_studio.core.requests import (
    ClassCondition,
    Condition,
    SemanticMapCondition,
    TextCondition,
    UnconditionalCondition,
)
from ldm_studio.core.semantic_maps import colorize, read_map_file
from ldm_studio.qt.images import to_qimage
from ldm_studio.widgets.class_picker import ClassPicker

DEFAULT_LABEL_SET = "coco-stuff-182"
TAB_FOR_FAMILY = {"text": 0, "class": 1, "semantic": 2, "uncond": 3}


class PromptTab(QWidget):
    """Prompt and negative prompt of a text model."""

    def __init__(self) -> None:
        super().__init__()
        self.prompt = QPlainTextEdit(placeholderText="A painting of a red fox in the snow")
        self.prompt.setTabChangesFocus(True)
        self.prompt.setMinimumHeight(60)
        self.negative = QLineEdit(placeholderText="What guidance steers away from (optional)")
        form = QFormLayout(self)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Prompt", self.prompt)
        form.addRow("Negative", self.negative)


class MapTab(QWidget):
    """Load a label-map file (the map painter will live here)."""

    def __init__(self) -> None:
        super().__init__()
        self.label_map: np.ndarray | None = None
        self.label_set = DEFAULT_LABEL_SET
        self.load_button = QPushButton("Load map file…")
        self.info = QLabel(
            "No map loaded. A map is a grayscale PNG of label indices, or a picture in the label set's colours."
        )
        self.info.setWordWrap(True)
        self.thumbnail = QLabel()
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setMinimumHeight(120)
        layout = QVBoxLayout(self)
        layout.addWidget(self.load_button)
        layout.addWidget(self.info)
        layout.addWidget(self.thumbnail, 1)
        self.load_button.clicked.connect(self._ask_file)

    def _ask_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load semantic map", "", "Label maps (*.png *.bmp *.tif *.tiff)")
        if path:
            try:
                self.load(path)
            except LdmStudioError as exc:
                self.info.setText(str(exc))

    def load(self, path: str | Path) -> None:
        """Read a map file in the model's label set; a FileFormatError names the file and the problem."""
        labels = read_map_file(path, self.label_set)
        self.label_map = labels
        present = np.unique(labels)
        self.info.setText(f"{Path(path).name}: {labels.shape[1]}×{labels.shape[0]}, {len(present)} labels")
        try:
            picture = colorize(labels, self.label_set)
        except ValueError:  # a label set without a palette
            self.thumbnail.clear()
            return
        pixmap = QPixmap.fromImage(to_qimage(picture))
        self.thumbnail.setPixmap(
            pixmap.scaled(200, 200, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
        )


class ConditioningPanel(QTabWidget):
    """Tabs for text, class, semantic map and none; only the loaded family's tab is shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = PromptTab()
        self.classes = ClassPicker()
        self.map = MapTab()
        self.none = QLabel("This model takes no input: every image comes from its seed alone.")
        self.none.setWordWrap(True)
        self.none.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.addTab(self.text, "Prompt")
        self.addTab(self.classes, "Class")
        self.addTab(self.map, "Semantic map")
        self.addTab(self.none, "Unconditional")
        self.family: str | None = None
        self.set_family("text")

    def set_family(self, family: str | None, info: ModelInfo | None = None) -> None:
        """Show the one tab this family uses (all stay reachable before a model is loaded)."""
        self.family = family
        shown = TAB_FOR_FAMILY.get(family or "", -1)
        for index in range(self.count()):
            self.setTabVisible(index, shown in (-1, index))
        if shown >= 0:
            self.setCurrentIndex(shown)
        if info is not None and info.label_set:
            self.map.label_set = info.label_set

    def image_count(self) -> int | None:
        """A batch size the condition dictates (several classes), else None."""
        if self.family == "class" and len(self.classes.class_ids()) > 1:
            return len(self.classes.class_ids())
        return None

    def condition(self) -> Condition:
        """The condition for the current family; a RequestError says what is missing."""
        family = self.family
        if family == "text":
            return TextCondition(self.text.prompt.toPlainText().strip(), self.text.negative.text().strip())
        if family == "class":
            ids = self.classes.class_ids()
            if not ids:
                raise RequestError("class", "tick at least one class")
            return ClassCondition(tuple(ids))
        if family == "semantic":
            if self.map.label_map is None:
                raise RequestError("map", "load a semantic map first")
            return SemanticMapCondition(self.map.label_map, self.map.label_set)
        if family == "uncond":
            return UnconditionalCondition()
        raise RequestError("model", "open a model first (Ctrl+O)")

    def state(self) -> dict:
        return {
            "prompt": self.text.prompt.toPlainText(),
            "negative": self.text.negative.text(),
            "classes": self.classes.class_ids(),
        }

    def restore(self, state: dict) -> None:
        if isinstance(state.get("prompt"), str):
            self.text.prompt.setPlainText(state["prompt"])
        if isinstance(state.get("negative"), str):
            self.text.negative.setText(state["negative"])
        classes = state.get("classes")
        if isinstance(classes, list) and all(isinstance(c, int) for c in classes):
            self.classes.set_class_ids(classes)
