"""What to condition on, showing only the inputs the loaded model's family understands."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QTabWidget, QWidget

from ldm_studio.core.errors import RequestError
from ldm_studio.core.families.registry import FamilySpec, get_family
from ldm_studio.core.generation.condition_types import (
    MAX_PROMPT_CHARS,
    ClassCondition,
    CombinedCondition,
    ConditionType,
    SemanticMapCondition,
    TextCondition,
    UnconditionalCondition,
)
from ldm_studio.core.generation.image_inputs import InitImage
from ldm_studio.core.generation.requests import Condition
from ldm_studio.core.models.model_folder import ModelInfo
from ldm_studio.widgets.condition_editors import EDITORS, ConditionEditor, PromptTab
from ldm_studio.widgets.image_input import InitImageTab, PictureTab

__all__ = ["ConditioningPanel", "PromptTab"]


class ConditioningPanel(QTabWidget):
    """One tab per condition type's editor; only the loaded family's inputs are shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editors: dict[type[ConditionType], QWidget] = {kind: factory() for kind, factory in EDITORS.items()}
        for editor in self.editors.values():
            self.addTab(editor, editor.title)
        # the built-in editors by name, for the window and its tests
        self.text = self.editors[TextCondition]
        self.classes = self.editors[ClassCondition]
        self.map = self.editors[SemanticMapCondition]
        self.none = self.editors[UnconditionalCondition]
        # image-to-image: a start picture for every family whose condition is not itself a picture
        self.image = InitImageTab()
        self.addTab(self.image, self.image.title)
        self.spec: FamilySpec | None = None
        # hooks of add-ons beside the editors (a ControlNet): each wraps the condition, and puts a
        # restored one back, returning (restored, not restored) words for the message
        self.wrappers: list[Callable[[ConditionType], ConditionType]] = []
        self.restorers: list[Callable[[ConditionType], tuple[list[str], list[str]]]] = []
        self.set_family(get_family("text"))

    @property
    def family(self) -> str | None:
        return self.spec.name if self.spec is not None else None

    def shown(self) -> tuple[type[ConditionType], ...]:
        """The condition types whose editors the loaded family uses (a family that takes region
        prompts but no map of its own gets the map editor too: its regions are painted there)."""
        if self.spec is None:
            return ()
        kinds = self.spec.input_types
        if self.regions_only_map:
            kinds = (*kinds, SemanticMapCondition)
        return kinds

    @property
    def regions_only_map(self) -> bool:
        """The family takes region prompts and no map of its own: the map is only for the regions."""
        return self.spec is not None and self.spec.regions and SemanticMapCondition not in self.spec.input_types

    def set_family(self, spec: FamilySpec | str | None, info: ModelInfo | None = None) -> None:
        """Show the tabs of this family's inputs (all stay reachable before a model is loaded)."""
        self.spec = get_family(spec) if isinstance(spec, str) else spec
        shown = self.shown()
        optional = self.spec is not None and self.spec.is_combined
        own = self.spec.input_types if self.spec is not None else ()
        for kind, editor in self.editors.items():
            self.setTabVisible(self.indexOf(editor), not shown or kind in shown)
            editor.set_model(info if kind in shown else None, optional or kind not in own)  # a regions-only map
        self.map.set_regions_available(self.spec is not None and self.spec.regions, self.regions_only_map)
        self.setTabVisible(self.indexOf(self.image), self.takes_init)
        if shown:
            self.setCurrentWidget(self.editors[shown[0]])  # multi: the prompt first, as a person starts

    @property
    def takes_init(self) -> bool:
        """Whether the Image tab applies: the family's condition is not itself a picture."""
        return self.spec is None or "image" not in self.spec.input_names

    def picture_tab(self) -> PictureTab:
        """Where a picture sent to the panel goes: the family's own picture editor, else the Image tab."""
        for kind in self.shown():
            editor = self.editors[kind]
            if isinstance(editor, PictureTab):
                return editor
        return self.image

    def init(self) -> InitImage | None:
        """The image-to-image start in the Image tab (None when empty or when the family takes no start)."""
        return self.image.init() if self.takes_init else None

    def editor(self, kind: type[ConditionType]) -> ConditionEditor | None:
        return self.editors.get(kind)  # type: ignore[return-value]

    def show_problem(self, error: RequestError) -> None:
        """Show a problem with an input on the tab where that input is set (the tab is made current)."""
        for kind in self.shown():
            if error.field in {spec.name for spec in kind.inputs}:
                editor = self.editors[kind]
                self.setCurrentWidget(editor)
                show = getattr(editor, "show_problem", None)
                if callable(show):
                    show(str(error))
                return

    def image_count(self) -> int | None:
        """A batch size the condition dictates (several classes), else None."""
        counts = [self.editors[kind].image_count() for kind in self.shown()]
        return next((c for c in counts if c is not None), None)

    def condition(self) -> Condition:
        """The condition for the loaded family; a RequestError says what is missing."""
        if self.spec is None:
            raise RequestError("model", "open a model first (Ctrl+O)")
        shown = self.spec.input_types
        if not self.spec.is_combined:
            condition = self.editors[shown[0]].condition(required=True)
            assert condition is not None
            condition = self.map.with_regions(condition)
        else:  # every part optional: what is left empty gets the model's null input
            parts = [p for kind in shown if (p := self.editors[kind].condition(required=False)) is not None]
            condition = self.map.with_regions(CombinedCondition.of(parts))
        for wrap in self.wrappers:  # add-ons (a ControlNet) wrap the condition, regions included
            condition = wrap(condition)
        return condition

    def state(self) -> dict:
        return {
            "prompt": self.text.prompt.toPlainText(),
            "negative": self.text.negative.text(),
            "classes": self.classes.class_ids(),
        }

    def restore(self, state: dict) -> None:
        # cut at the prompt limit: a multi-megabyte line would freeze the text box for minutes
        if isinstance(state.get("prompt"), str):
            self.text.prompt.setPlainText(state["prompt"][:MAX_PROMPT_CHARS])
        if isinstance(state.get("negative"), str):
            self.text.negative.setText(state["negative"][:MAX_PROMPT_CHARS])
        classes = state.get("classes")
        if isinstance(classes, list) and all(isinstance(c, int) for c in classes):
            self.classes.set_class_ids(classes)
