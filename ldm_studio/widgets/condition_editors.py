"""One editor per condition type, in a small registry: the conditioning panel and the recipe
restorer ask it instead of branching on family names.

An editor is a tab of the conditioning panel. It reads its widgets into a condition
(`condition`), puts a recipe's condition back (`restore`), and clears itself (`reset`) so a
restored recipe never keeps another image's inputs. A new condition type registers its
editor here with `@editor_for(ConditionType)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget

from ldm_studio.core.errors import LdmStudioError, RequestError
from ldm_studio.core.generation.condition_types import (
    ClassCondition,
    ConditionType,
    SemanticMapCondition,
    TextCondition,
    UnconditionalCondition,
)
from ldm_studio.core.generation.image_inputs import InpaintCondition, SuperResCondition
from ldm_studio.core.models.model_folder import ModelInfo


class ConditionEditor(Protocol):
    """What the panel needs of an editor (a QWidget that is one tab)."""

    title: ClassVar[str]
    restored_name: ClassVar[str]  # the word the restore message uses

    def condition(self, required: bool) -> ConditionType | None:
        """The condition in the widgets; None when empty and not `required` (RequestError when required)."""

    def restore(self, condition: ConditionType) -> str | None:
        """Show `condition`; None when it was restored, else why not."""

    def reset(self) -> None:
        """Forget the input (a recipe without this input is being restored)."""

    def set_model(self, info: ModelInfo | None, optional: bool) -> None:
        """Follow the loaded model (its class names, label set, resolution); `optional` in multi-input models."""

    def image_count(self) -> int | None:
        """A batch size this input dictates (one class per image), else None."""


EditorFactory = Callable[[], QWidget]
EDITORS: dict[type[ConditionType], EditorFactory] = {}


def editor_for(kind: type[ConditionType]) -> Callable[[EditorFactory], EditorFactory]:
    """Register the editor factory of a condition type."""

    def register(factory: EditorFactory) -> EditorFactory:
        EDITORS[kind] = factory
        return factory

    return register


@editor_for(TextCondition)
class PromptTab(QWidget):
    """Prompt and negative prompt of a text model."""

    title = "Prompt"
    restored_name = "prompt"
    PLACEHOLDER = "A painting of a red fox in the snow"

    def __init__(self) -> None:
        super().__init__()
        self.prompt = QPlainTextEdit(placeholderText=self.PLACEHOLDER)
        self.prompt.setTabChangesFocus(True)
        self.prompt.setMinimumHeight(60)
        self.prompt.setToolTip(
            "A prompt that changes during sampling: 'a forest [0.4] a burning forest' switches after 40% of the "
            "steps ([12]: after step 12); A1111's [from:to:when] edits a part"
        )
        self.negative = QLineEdit(placeholderText="What guidance steers away from (optional)")
        # the parsed schedule (or why it cannot run), under the prompt; hidden for a plain prompt
        self.hint = QLabel()
        self.hint.setObjectName("schedule_hint")
        self.hint.setWordWrap(True)
        palette = self.hint.palette()
        palette.setColor(QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.PlaceholderText))
        self.hint.setPalette(palette)
        self.hint.hide()
        self.steps = 50  # the sampler panel's steps (`set_steps`): where fractions land
        form = QFormLayout(self)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Prompt", self.prompt)
        form.addRow("", self.hint)
        form.addRow("Negative", self.negative)
        self.prompt.textChanged.connect(self.update_hint)
        self.negative.textChanged.connect(self.update_hint)

    def condition(self, required: bool) -> TextCondition | None:
        prompt, negative = self.prompt.toPlainText().strip(), self.negative.text().strip()
        if not required and not (prompt or negative):
            return None
        return TextCondition(prompt, negative)

    def restore(self, condition: ConditionType) -> str | None:
        assert isinstance(condition, TextCondition)
        self.prompt.setPlainText(condition.prompt)
        self.negative.setText(condition.negative)
        return None

    def reset(self) -> None:
        self.prompt.clear()
        self.negative.clear()

    def set_model(self, info: ModelInfo | None, optional: bool) -> None:
        pass

    def image_count(self) -> int | None:
        return None

    def set_steps(self, steps: int) -> None:
        self.steps = max(1, int(steps))
        self.update_hint()

    def update_hint(self) -> None:
        """Show the schedule the typed prompts make (`steps 1-12: a forest · 13-30: …`), or the reason it cannot run."""
        try:
            condition = TextCondition(self.prompt.toPlainText().strip(), self.negative.text().strip())
            lines = condition.schedule_hints(self.steps)
        except RequestError as exc:
            lines = [str(exc)]
        self.hint.setText("\n".join(lines))
        self.hint.setVisible(bool(lines))


def _class_editor() -> QWidget:
    from ldm_studio.widgets.class_picker import ClassPicker

    return ClassPicker()


def _map_editor() -> QWidget:
    from ldm_studio.widgets.map_painter.panel import MapTab

    return MapTab()


def _upscale_editor() -> QWidget:
    from ldm_studio.widgets.image_input import UpscaleTab

    return UpscaleTab()


def _inpaint_editor() -> QWidget:
    from ldm_studio.widgets.image_input import InpaintTab

    return InpaintTab()


EDITORS[ClassCondition] = _class_editor
EDITORS[SemanticMapCondition] = _map_editor
EDITORS[SuperResCondition] = _upscale_editor
EDITORS[InpaintCondition] = _inpaint_editor


@editor_for(UnconditionalCondition)
class NoInputTab(QWidget):
    """What an unconditional model shows: nothing to set."""

    title = "Unconditional"
    restored_name = ""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel("This model takes no input: every image comes from its seed alone.")
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        QVBoxLayout(self).addWidget(self.label)

    def condition(self, required: bool) -> UnconditionalCondition:
        return UnconditionalCondition()

    def restore(self, condition: ConditionType) -> str | None:
        return None

    def reset(self) -> None:
        pass

    def set_model(self, info: ModelInfo | None, optional: bool) -> None:
        pass

    def image_count(self) -> int | None:
        return None


def restore_into(editor: ConditionEditor, condition: ConditionType) -> str | None:
    """`editor.restore`, with a restore that fails on a bad value reported instead of raised."""
    try:
        return editor.restore(condition)
    except (LdmStudioError, ValueError) as exc:
        return str(exc)

