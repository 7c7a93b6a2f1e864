"""The semantic map painter: paint label maps for semantic and multi-input models.

`install_map_painter(window)` is the one hook the main window calls: it moves the editor
beside the output, adds the cursor readout to the status bar and wires live mode into the
window's own generate path, so main_window.py needs no painter details.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from ldm_studio.core.families.registry import get_family
from ldm_studio.core.models.model_folder import ModelInfo
from ldm_studio.qt.reports import Frame
from ldm_studio.widgets.map_painter.live import LiveGenerator
from ldm_studio.widgets.map_painter.panel import MapTab
from ldm_studio.widgets.map_painter.workspace import CanvasArea

if TYPE_CHECKING:
    from ldm_studio.widgets.main_window import MainWindow

__all__ = ["CanvasArea", "LiveGenerator", "MapPainterHook", "MapTab", "install_map_painter"]


class MapPainterHook(QObject):
    """Holds the painter's window-level parts: the canvas area and live mode."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.tab: MapTab = window.conditioning.map
        self.regions_only = False  # the loaded family's map is only for region prompts
        editor, cursor_label = self.tab.take_editor()
        output = window.takeCentralWidget()
        self.area = CanvasArea(output, editor)
        window.setCentralWidget(self.area)
        window.statusBar().addPermanentWidget(cursor_label)
        self.live = LiveGenerator(window.controller, window.generate, self)
        self.tab.live_box.toggled.connect(self.live.set_enabled)
        self.tab.changed.connect(self.live.map_changed)
        self.tab.message.connect(window.show_message)
        window.controller.preview.connect(self._on_preview)
        window.controller.model_loaded.connect(self._on_model_loaded)
        window.conditioning.currentChanged.connect(self._on_tab)

    def _on_preview(self, frame: Frame) -> None:
        self.area.set_output_image(frame.first_image())

    def _on_model_loaded(self, info: ModelInfo) -> None:
        spec = get_family(info.family)
        self.regions_only = spec is not None and spec.regions and not spec.uses_map
        self.area.set_map_model(spec is not None and spec.uses_map)
        if spec is not None and spec.uses_map and spec.is_combined:  # an optional map: shown when its tab is picked
            self.area.set_mode("Output")

    def _on_tab(self, index: int) -> None:
        picked = index == self.window.conditioning.indexOf(self.tab)
        if picked and self.regions_only and not self.area.map_model:
            # a family whose map holds only the regions of region prompts: the painter (and its view
            # bar) appear once the map tab is picked, the window stays as it was for prompts alone
            self.area.set_map_model(True)
            self.area.set_mode("Output")
        if picked and self.area.map_model and self.area.mode == "Output":
            self.area.set_mode("Side by side")


def install_map_painter(window: MainWindow) -> MapPainterHook:
    """Put the map painter into `window` (call once, after its widgets and signals exist)."""
    return MapPainterHook(window)
