"""What to condition on, showing only the inputs the loaded model's family understands."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTabWidget,
    QWidget,
)

from ldm_studio.core.errors import RequestError
from ldm_studio.core.model_folder import ModelInfo
from ldm_studio.core.requests import (
    ClassCondition,
    CombinedCondition,
    Condition,
    TextCondition,
    UnconditionalCondition,
)
from ldm_studio.widgets.class_picker import ClassPicker
from ldm_studio.widgets.map_painter.panel import MapTab

TAB_FOR_FAMILY = {"text": 0, "class": 1, "semantic": 2, "uncond": 3}
TABS_FOR_FAMILY = {**{family: (tab,) for family, tab in TAB_FOR_FAMILY.items()}, "multi": (0, 1, 2)}


class PromptTab(QWidget):
    """Prompt and negative prompt of a text model."""

    PLACEHOLDER = "A painting of a red fox in the snow"

    def __init__(self) -> None:
        super().__init__()
        self.prompt = QPlainTextEdit(placeholderText=self.PLACEHOLDER)
        self.prompt.setTabChangesFocus(True)
        self.prompt.setMinimumHeight(60)
        self.negative = QLineEdit(placeholderText="What guidance steers away from (optional)")
        form = QFormLayout(self)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Prompt", self.prompt)
        form.addRow("Negative", self.negative)


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
        shown = TABS_FOR_FAMILY.get(family or "", ())
        for index in range(self.count()):
            self.setTabVisible(index, not shown or index in shown)
        if shown:
            self.setCurrentIndex(shown[0])  # multi: the prompt first, as a person starts
        self.map.set_model(family, info)
        if info is not None:
            self.classes.set_labels(getattr(info, "class_names", None), getattr(info, "num_classes", None))

    def show_problem(self, error: RequestError) -> None:
        """Show a class problem on the Class tab, where the classes are picked (it is made current)."""
        if error.field == "class" and self.isTabVisible(1):
            self.setCurrentIndex(1)
            self.classes.show_problem(str(error))

    def image_count(self) -> int | None:
        """A batch size the condition dictates (several classes), else None."""
        if self.family in ("class", "multi") and len(self.classes.class_ids()) > 1:
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
            return self.map.map_condition(required=True)
        if family == "multi":  # every part optional: what is left empty gets the model's null input
            prompt, negative = self.text.prompt.toPlainText().strip(), self.text.negative.text().strip()
            ids = self.classes.class_ids()
            return CombinedCondition(
                TextCondition(prompt, negative) if prompt or negative else None,
                ClassCondition(tuple(ids)) if ids else None,
                self.map.map_condition(required=False),
            )
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
