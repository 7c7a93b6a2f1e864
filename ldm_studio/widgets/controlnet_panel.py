"""Attach a ControlNet to the loaded Stable Diffusion model: a ControlNet tab, the painter in ADE20K.

`install_controlnet(window)` is the one hook the main window calls (after the map painter). It
adds a "ControlNet" tab to the conditioning panel for families a ControlNet can steer (their
`FamilySpec.conditions` take a `ControlNetCondition`): the installed ControlNets of that family
(or a ControlNet folder), the conditioning scale and the start/end of the schedule it acts in.
While one is attached, the semantic-map tab and the painter are shown and paint in
`ade20k-150` (a COCO-Stuff map is translated, its report shown), and the conditioning panel
wraps the prompt with the ControlNet and the painted map. Live mode (the painter's) works as
for the semantic models: the window's own generate path, debounced, the stale job cancelled.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.core.errors import FileFormatError, LdmStudioError, ModelFolderError, RequestError
from ldm_studio.core.families.registry import get_family
from ldm_studio.core.generation.condition_types import ConditionType
from ldm_studio.core.generation.control_inputs import CONTROL_LABEL_SET, ControlNetCondition, ControlSpec
from ldm_studio.core.models.controlnets import installed_controlnets, read_controlnet, resolve_controlnet
from ldm_studio.core.models.model_folder import ModelInfo

if TYPE_CHECKING:
    from ldm_studio.widgets.main_window import MainWindow
    from ldm_studio.widgets.map_painter.panel import MapTab

NONE = "None"


class ControlNetTab(QWidget):
    """Which ControlNet steers the model, how strongly and over which part of the schedule."""

    title = "ControlNet"
    changed = Signal()  # attached, detached or another one chosen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.family: str | None = None
        self.choice = QComboBox()
        self.choice.setToolTip("An installed ControlNet (ldm-studio models download sd-controlnet-seg) or a folder")
        self.add_button = QPushButton("Folder…")
        self.add_button.setToolTip("Use a diffusers ControlNet folder (config.json + diffusion_pytorch_model.*)")
        self.scale = self._number(0.0, 2.0, 1.0, 0.05, "conditioning scale: how strongly the map steers")
        self.start = self._number(0.0, 1.0, 0.0, 0.05, "fraction of the schedule where the ControlNet starts")
        self.end = self._number(0.0, 1.0, 1.0, 0.05, "fraction of the schedule where the ControlNet stops")
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.choice, 1)
        row.addWidget(self.add_button)
        layout.addLayout(row)
        form = QFormLayout()
        form.addRow("Scale", self.scale)
        form.addRow("Start", self.start)
        form.addRow("End", self.end)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.choice.currentIndexChanged.connect(self._chosen)
        self.add_button.clicked.connect(self._ask_folder)
        self.refresh()

    @staticmethod
    def _number(low: float, high: float, value: float, step: float, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(low, high)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setValue(value)
        box.setToolTip(tip)
        return box

    # --- what is there --------------------------------------------------------------------------

    def set_family(self, family: str | None) -> None:
        """Offer the ControlNets made for `family` (the loaded model's)."""
        self.family = family
        self.refresh()

    def refresh(self) -> None:
        """Re-read the installed ControlNets (keeping the current choice when it is still there)."""
        current = self.folder
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItem(NONE, None)
        try:
            found = installed_controlnets()
        except LdmStudioError:  # a damaged index must not take the tab down
            found = {}
        for name, folder in sorted(found.items()):
            if self._fits(folder):
                self.choice.addItem(name, str(folder))
        self.choice.blockSignals(False)
        if current is not None:
            self.select_folder(current)
        self._chosen()

    def _fits(self, folder: Path) -> bool:
        try:
            return self.family is None or read_controlnet(folder).family == self.family
        except (FileFormatError, ModelFolderError):
            return False

    @property
    def folder(self) -> str | None:
        """The attached ControlNet's folder, None when none is."""
        data = self.choice.currentData()
        return None if data is None else str(data)

    @property
    def attached(self) -> bool:
        return self.folder is not None

    def select_folder(self, folder: str | Path, name: str | None = None) -> None:
        """Attach the ControlNet in `folder` (added to the list if it is not there); FileFormatError if it is none."""
        target = str(Path(folder).expanduser().resolve())
        for i in range(self.choice.count()):
            data = self.choice.itemData(i)
            if data is not None and str(Path(data).resolve()) == target:
                self.choice.setCurrentIndex(i)
                return
        read_controlnet(target)
        self.choice.addItem(name or Path(target).name, target)
        self.choice.setCurrentIndex(self.choice.count() - 1)

    def detach(self) -> None:
        self.choice.setCurrentIndex(0)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "ControlNet folder")
        if folder:
            try:
                self.select_folder(folder)
            except (FileFormatError, ModelFolderError) as exc:
                self.note.setText(str(exc))

    def _chosen(self, *_: object) -> None:
        if self.attached:
            self.note.setText(
                "Paint the control map on the Semantic map tab: ADE20K labels, rendered in the "
                "ControlNet's palette. Live mode there follows each stroke."
            )
        else:
            self.note.setText("No ControlNet: the prompt alone steers the model.")
        self.changed.emit()

    # --- the request ------------------------------------------------------------------------------

    def spec(self) -> ControlSpec | None:
        """The attached ControlNet with its scale and window (RequestError naming the field when invalid)."""
        folder = self.folder
        if folder is None:
            return None
        path, sha = resolve_controlnet(folder)
        name = self.choice.currentText()
        installed = name in installed_controlnets()
        return ControlSpec(
            name if installed else str(path), str(path), sha, self.scale.value(), self.start.value(), self.end.value()
        )

    def wrap(self, base: ConditionType, map_tab: MapTab) -> ConditionType:
        """`base` steered by the attached ControlNet and the painted map (`base` when none is attached)."""
        spec = self.spec()
        if spec is None:
            return base
        indices = map_tab.label_map
        if indices is None:
            raise RequestError("map", "paint a control map on the Semantic map tab (or start from a template) first")
        return ControlNetCondition(base, spec, indices, map_tab.label_set)

    def restore(self, condition: ControlNetCondition) -> str | None:
        """Attach the recipe's ControlNet (by its folder, else its installed name) and set its numbers."""
        control = condition.control
        candidates = [control.path, str(installed_controlnets().get(control.name, "")), control.name]
        for folder in (c for c in candidates if c):
            try:
                self.select_folder(folder, control.name)
            except (FileFormatError, ModelFolderError, OSError):
                continue
            break
        else:
            return f"ControlNet {control.name!r} (not installed here)"
        self.scale.setValue(control.scale)
        self.start.setValue(control.start)
        self.end.setValue(control.end)
        return None


class ControlNetHook(QObject):
    """The window-level parts: the tab, following the loaded model, the painter in ADE20K, wrapping requests."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.info: ModelInfo | None = None
        self.following = False  # the map tab and the painter are set for the attached ControlNet
        panel = window.conditioning
        self.tab = ControlNetTab()
        self.map_tab: MapTab = panel.map
        panel.addTab(self.tab, self.tab.title)
        panel.setTabVisible(panel.indexOf(self.tab), False)
        panel.wrappers.append(self._wrap)
        panel.restorers.append(self._restore)
        self.tab.changed.connect(self._follow)
        window.controller.model_loaded.connect(self._on_model_loaded)

    @property
    def available(self) -> bool:
        """Whether the loaded family takes a ControlNet."""
        spec = get_family(self.info.family) if self.info is not None else None
        return spec is not None and ControlNetCondition in spec.conditions

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.info = info
        panel = self.window.conditioning
        panel.setTabVisible(panel.indexOf(self.tab), self.available)
        self.tab.set_family(info.family if self.available else None)
        if not self.available:
            self.tab.detach()
        # the panel and the painter follow the new model in their own slots (hiding the map for an sd
        # model): the map tab and the painter are set once every slot of the signal has run
        QTimer.singleShot(0, self, self._follow)

    def _follow(self) -> None:
        """With a ControlNet attached: the map tab and the painter shown, painting in ADE20K."""
        if not self.available or self.info is None:
            return
        panel = self.window.conditioning
        area = self.window.map_painter.area
        if self.tab.attached:
            panel.setTabVisible(panel.indexOf(self.map_tab), True)
            area.set_map_model(True)
            self.map_tab.set_model(replace(self.info, label_set=CONTROL_LABEL_SET), optional=False)
            if area.mode == "Output":
                area.set_mode("Side by side")
            self.following = True
        elif self.following:  # detached: the panel and the painter as the family has them alone
            self.following = False
            current = panel.currentWidget()
            panel.set_family(panel.spec, self.info)
            panel.setCurrentWidget(current)
            spec = get_family(self.info.family)
            area.set_map_model(spec is not None and spec.uses_map)

    def _wrap(self, condition: ConditionType) -> ConditionType:
        if not self.available:
            return condition
        return self.tab.wrap(condition, self.map_tab)

    def _restore(self, condition: ConditionType) -> tuple[list[str], list[str]]:
        """A recipe's ControlNet and control map back into the tab and the painter: (restored, not restored)."""
        if not isinstance(condition, ControlNetCondition):
            if self.available:
                self.tab.detach()
            return [], []
        problem = self.tab.restore(condition)
        if problem is not None:
            return [], [problem]
        if condition.label_map is not None:
            self.map_tab.set_map(condition.label_map, condition.label_set)
            return ["ControlNet", "control map"], []
        return ["ControlNet"], ["the control picture (the painter holds label maps)"]


def install_controlnet(window: MainWindow) -> ControlNetHook:
    """Put the ControlNet tab into `window` (call once, after the map painter)."""
    return ControlNetHook(window)
