"""Actions on a finished picture: the canvas as input, Inpaint region…, and input/result compare.

`install_image_actions(window)` is the one hook the main window calls (as the timeline's):

- an **Image** menu and the canvas' context menu: "Use as input" (Ctrl+Shift+U), "Vary",
  "Inpaint region…" (Ctrl+Shift+I), "Upscale ×4" on the picture on the canvas (with a batch
  grid, the context menu acts on the cell under the cursor); the history's context menu gets
  "Inpaint region…" too;
- **Inpaint region…** puts the picture in the loaded family's picture tab, picks the brush,
  sets strength 1.0 (an inpainting model conditions on the mask itself) and says in the status
  bar what to do next;
- **compare**: when the shown job had an input picture (image-to-image, inpaint, upscale, also
  a history image whose recipe embeds one), View ▸ Compare with input ▸ "Input beside result"
  (F6) / "Before / after" (F7)
  and the small toggle on the canvas show input and result next to each other or split by a
  divider the mouse drags (the canvas' compare view, `canvas.Compare`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QPoint, Qt, Slot
from PySide6.QtGui import QAction, QActionGroup, QImage
from PySide6.QtWidgets import QHBoxLayout, QMenu, QToolButton, QWidget

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.files.recipe import read_png_recipe
from ldm_studio.qt.reports import JobProgress
from ldm_studio.widgets.canvas import Compare
from ldm_studio.widgets.image_input import InitImageTab, rgb_qimage
from ldm_studio.widgets.map_painter.tools import Tool
from ldm_studio.widgets.timeline import qimage_array

if TYPE_CHECKING:
    from ldm_studio.widgets.main_window import MainWindow

INPAINT_HINT_MS = 60_000
COMPARE_KEYS = {Compare.OFF: "", Compare.SIDE: "F6", Compare.SLIDER: "F7"}
COMPARE_TEXT = {Compare.OFF: "Result", Compare.SIDE: "Input beside result", Compare.SLIDER: "Before / after"}


def input_picture(request: object) -> np.ndarray | None:
    """The picture a request (or a restored recipe) starts from or is conditioned on (image-to-image,
    inpaint, upscale), if any."""
    init = getattr(request, "init", None)
    if init is not None:
        return init.image
    image = getattr(getattr(request, "condition", None), "image", None)
    return image if isinstance(image, np.ndarray) else None


class CompareToggle(QWidget):
    """The small three-way toggle in the canvas' corner (the View menu's compare actions as buttons)."""

    def __init__(self, actions: dict[Compare, QAction], parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("compare_toggle")
        row = QHBoxLayout(self)
        row.setContentsMargins(3, 3, 3, 3)
        row.setSpacing(2)
        self.buttons: dict[Compare, QToolButton] = {}
        for mode, action in actions.items():
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            row.addWidget(button)
            self.buttons[mode] = button
        self.setStyleSheet(
            "#compare_toggle { background: rgba(20, 22, 26, 190); border-radius: 5px; }"
            " QToolButton { color: #e8e8e8; padding: 2px 6px; }"
            " QToolButton:checked { background: rgba(90, 140, 220, 200); border-radius: 3px; }"
        )
        self.adjustSize()
        self.move(8, 8)
        self.hide()


class ImageActions(QObject):
    """Wires the picture actions into the window: menus, the canvas, the history, the compare view."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.canvas = window.canvas
        self.job: int | None = None  # the running job whose input is still to be looked up
        self._build_actions()
        self.toggle = CompareToggle(self.compare_actions, self.canvas)
        self.canvas.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.canvas.customContextMenuRequested.connect(self._context_menu)
        self.canvas.compare_changed.connect(self._sync_compare)
        c = window.controller
        c.started.connect(self._on_started)
        c.progress.connect(self._on_progress)
        c.finished.connect(self._on_finished)
        window.gallery.open_requested.connect(self.picture_opened)
        window.gallery.inpaint.connect(self.inpaint_region)
        self._sync_compare()

    def _build_actions(self) -> None:
        w = self.window

        def action(text: str, slot, key: str = "") -> QAction:
            act = QAction(text, w)
            if key:
                act.setShortcut(key)
            act.triggered.connect(lambda _=False: slot())
            return act

        self.use_action = action("&Use as input", self.use_canvas_as_input, "Ctrl+Shift+U")
        self.use_action.setToolTip("Put the picture on the canvas into the Image tab (image-to-image)")
        self.vary_action = action("&Vary", lambda: self._on_canvas(w.vary))
        self.inpaint_action = action("&Inpaint region…", lambda: self._on_canvas(self.inpaint_region), "Ctrl+Shift+I")
        self.upscale_action = action("Upscale ×&4", lambda: self._on_canvas(w.upscale))
        self.compare_group = QActionGroup(w)
        self.compare_actions: dict[Compare, QAction] = {}
        for mode in Compare:
            act = QAction(COMPARE_TEXT[mode], w)
            act.setCheckable(True)
            act.setChecked(mode is self.canvas.compare)
            if COMPARE_KEYS[mode]:
                act.setShortcut(COMPARE_KEYS[mode])
                act.setToolTip(f"{COMPARE_TEXT[mode]} ({COMPARE_KEYS[mode]} again: the result only)")
            act.triggered.connect(lambda _=False, m=mode: self.toggle_compare(m))
            self.compare_group.addAction(act)
            self.compare_actions[mode] = act

        menus = {a.text(): a for a in w.menuBar().actions()}
        view = menus.get("&View")
        image_menu = QMenu("&Image", w)
        for act in (self.use_action, self.vary_action, self.inpaint_action, self.upscale_action):
            image_menu.addAction(act)
        if view is not None:
            w.menuBar().insertMenu(view, image_menu)
            compare_menu = view.menu().addMenu("&Compare with input")
            for act in self.compare_actions.values():
                compare_menu.addAction(act)
        else:
            w.menuBar().addMenu(image_menu)
        self.image_menu = image_menu

    # --- the picture on the canvas ---------------------------------------------------------------

    def canvas_file(self, index: int = 0) -> str | None:
        """The file of the picture (cell `index` of a batch grid) on the canvas, if it is one."""
        files = self.window.result_files
        if not files or self.canvas.image is None:
            return None
        return files[min(max(index, 0), len(files) - 1)]

    def cell_at(self, pos: QPoint) -> int:
        """The batch-grid cell under viewport point `pos` (0 for a single picture or a comparison)."""
        rows, cols = self.canvas.cells
        scene = self.canvas.scene().sceneRect()
        if (rows, cols) == (1, 1) or scene.isEmpty():
            return 0
        point = self.canvas.mapToScene(pos)
        col = min(max(int(point.x() / (scene.width() / cols)), 0), cols - 1)
        row = min(max(int(point.y() / (scene.height() / rows)), 0), rows - 1)
        return row * cols + col

    def _on_canvas(self, command, index: int = 0) -> object:
        path = self.canvas_file(index)
        if path is None:
            self.window.show_message("Nothing finished on the canvas yet: generate or pick an image in the history.")
            return None
        return command(path)

    def use_canvas_as_input(self, index: int = 0) -> bool:
        """"Use as input" on the canvas: its file, or (a decoded step, say) the picture itself."""
        path = self.canvas_file(index)
        if path is not None:
            return self.window.use_as_input(path)
        image = self.canvas.image
        if image is None:
            self.window.show_message("Nothing on the canvas to use as input yet.")
            return False
        tab = self.window.conditioning.picture_tab()
        tab.set_picture(qimage_array(image, (image.width(), image.height())))
        self.window.conditioning.setCurrentWidget(tab)
        self.window.show_message(f"The canvas picture is the input picture ({tab.title} tab)")
        return True

    def _context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(pos)
        menu.exec(self.canvas.viewport().mapToGlobal(pos))

    def context_menu(self, pos: QPoint) -> QMenu:
        """The canvas' context menu for the picture (cell) at `pos`."""
        index = self.cell_at(pos)
        menu = QMenu(self.canvas)
        has_file = self.canvas_file(index) is not None
        use = menu.addAction("Use as input", lambda: self.use_canvas_as_input(index))
        use.setEnabled(self.canvas.image is not None)
        for text, command in (
            ("Vary", self.window.vary),
            ("Inpaint region…", self.inpaint_region),
            ("Upscale ×4", self.window.upscale),
        ):
            act = menu.addAction(text, lambda c=command: self._on_canvas(c, index))
            act.setEnabled(has_file)
        if self.canvas.before is not None:
            menu.addSeparator()
            for act in self.compare_actions.values():
                menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.window.fit_action)
        menu.addAction(self.window.actual_action)
        return menu

    # --- Inpaint region… -------------------------------------------------------------------------

    def inpaint_region(self, path: str) -> bool:
        """Put `path` in the picture tab ready to paint the region to repaint; the status bar says how."""
        w = self.window
        tab = w.conditioning.picture_tab()
        if not tab.with_mask:
            w.show_error(
                f"A {w.conditioning.family} model cannot repaint a region: load a model that makes images "
                "from a prompt, class or map, or an inpainting model."
            )
            return False
        if not w.use_as_input(path):
            return False
        if isinstance(tab, InitImageTab):
            tab.set_strength(1.0)  # the masked region is made anew; the rest stays the input's
        tab.view.set_tool(Tool.BRUSH)
        w.controls_dock.show()
        w.conditioning.setCurrentWidget(tab)
        tab.view.setFocus(Qt.FocusReason.OtherFocusReason)
        made = "it is made anew at strength 1.0" if isinstance(tab, InitImageTab) else "the inpaint model repaints it"
        w.show_message(
            f"Inpaint {Path(path).name}: paint over the region to repaint on the {tab.title} tab ({made}); "
            "B brush, E eraser, R rectangle, F fill, [ ] size, Feather softens the edge. Then Generate (Ctrl+Enter).",
            INPAINT_HINT_MS,
        )
        return True

    # --- compare -----------------------------------------------------------------------------------

    def toggle_compare(self, mode: Compare) -> None:
        """Show `mode`; choosing the mode already shown (its key again) goes back to the result alone."""
        if mode is not Compare.OFF and self.canvas.compare is mode:
            mode = Compare.OFF
        self.canvas.set_compare(mode)
        self._sync_compare()

    def set_before(self, picture: np.ndarray | QImage | None) -> None:
        image = rgb_qimage(picture) if isinstance(picture, np.ndarray) else picture
        self.canvas.set_before(image)
        self._sync_compare()

    def _sync_compare(self, *_: object) -> None:
        available = self.canvas.before is not None
        for mode, act in self.compare_actions.items():
            act.setEnabled(available)
            act.setChecked(mode is self.canvas.compare)
        self.toggle.setVisible(available)
        self.toggle.raise_()

    @Slot(int)
    def _on_started(self, job: int) -> None:
        """A new run: nothing to compare until its own input is known (a batch's rows have their own)."""
        self.job = None if self.window.controller.is_batch(job) else job
        self.set_before(None)

    @Slot(object)
    def _on_progress(self, progress: JobProgress) -> None:
        """At the run's first kept step its request is known: its live previews compare with its input."""
        if progress.job != self.job or progress.images != 1:
            return
        self.job = None  # looked once
        trajectory = self.window.controller.trajectories.get(progress.job)
        if trajectory is not None:
            self.set_before(input_picture(trajectory.request))

    @Slot(int, list)
    def _on_finished(self, job: int, files: list) -> None:
        """The result: compared with the input its recipe embeds (one image; a batch grid is not compared)."""
        if self.window.controller.is_batch(job):
            return
        if len(files) == 1:
            self.picture_opened(files[0])
        else:
            self.set_before(None)

    @Slot(str)
    def picture_opened(self, path: str) -> None:
        """A picture file on the canvas (history, File ▸ Open image, a drop): compare with the input
        its recipe embeds, if any."""
        try:
            restored = read_png_recipe(path)  # its `init` and `condition`, as a request's
        except LdmStudioError:
            restored = None
        self.set_before(input_picture(restored) if restored is not None else None)


def install_image_actions(window: MainWindow) -> ImageActions:
    """Add the picture actions and the compare view to `window` (call once, after the timeline)."""
    return ImageActions(window)


__all__ = ["ImageActions", "input_picture", "install_image_actions"]
