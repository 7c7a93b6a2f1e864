"""The denoising timeline under the canvas: scrub every kept step, play the run, export it, branch.

`install_timeline(window)` is the one hook the main window calls (as the map painter's): it
adds the strip as a dock under the canvas and takes over the window's live previews, which it
passes on while the strip follows the running job and holds back while a person scrubs.
The steps themselves live in the controller's `TrajectoryStore` (core.generation.trajectory), written by
the engine thread; this side only reads thumbnails and asks the engine to decode or branch.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.core.errors import LdmStudioError, RequestError
from ldm_studio.core.files.recipe import read_png_recipe
from ldm_studio.core.generation.requests import GenerationRequest
from ldm_studio.core.generation.sampler_switch import check_switch
from ldm_studio.core.generation.samplers import SAMPLERS
from ldm_studio.core.generation.trajectory import (
    DEFAULT_BUDGET_MB,
    BranchOrigin,
    Trajectory,
    check_branch,
    export_frames,
    origin_from_recipe,
)
from ldm_studio.qt.images import grid_qimage, grid_shape
from ldm_studio.qt.reports import Frame, JobProgress
from ldm_studio.widgets.canvas import compose_ab  # the canvas' compare view, shared

if TYPE_CHECKING:
    from ldm_studio.widgets.main_window import MainWindow

PLAY_INTERVAL_MS = 80
BUDGET_KEY = "timeline_budget_mb"


class TimelineStrip(QWidget):
    """One tick per step of a run; kept steps are bright, the shown one carries the handle.

    Mouse drags and arrow keys pick a step among the kept ones and emit `step_changed`. While
    `following` (a run in progress, untouched), the handle rides on the newest step.
    """

    step_changed = Signal(int)
    grabbed = Signal()  # the person took the handle (stop following the live run)

    MARGIN = 10

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.total = 0
        self.kept = 0
        self.current = -1
        self.branch_at: int | None = None  # steps up to here are the parent's (a branch's timeline)
        self.following = True
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Drag or use the arrow keys to show any step; Ctrl+D decodes the shown step")

    def set_run(self, total: int, kept: int = 0, branch_at: int | None = None) -> None:
        """A new run: `total` ticks, `kept` of them available, following the newest."""
        self.total, self.kept, self.branch_at = total, min(kept, total), branch_at
        self.current = self.kept - 1
        self.following = True
        self.update()

    def set_kept(self, kept: int, total: int | None = None) -> None:
        """More steps are kept (a running job); the handle follows them unless grabbed."""
        if total is not None:
            self.total = max(total, kept)
        self.kept = kept
        if self.following:
            self.current = kept - 1
        self.update()

    def set_current(self, step: int, emit: bool = True) -> None:
        """Show `step` (clamped to the kept steps); emits `step_changed` when it moved and `emit`."""
        if self.kept <= 0:
            return
        step = min(max(step, 0), self.kept - 1)
        if step == self.current:
            return
        self.current = step
        self.update()
        if emit:
            self.step_changed.emit(step)

    # --- geometry ----------------------------------------------------------------------------

    def _cell(self) -> float:
        return (self.width() - 2 * self.MARGIN) / max(self.total, 1)

    def x_of(self, step: int) -> float:
        """The x of a step's tick (the middle of its cell)."""
        return self.MARGIN + self._cell() * (step + 0.5)

    def step_at(self, x: float) -> int:
        return int((x - self.MARGIN) // max(self._cell(), 1e-6))

    # --- input -------------------------------------------------------------------------------

    def _grab(self) -> None:
        if self.following:
            self.following = False
            self.grabbed.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.kept:
            self._grab()
            self.set_current(self.step_at(event.position().x()))
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton and self.kept:
            self.set_current(self.step_at(event.position().x()))
            event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        moves = {
            Qt.Key.Key_Left: self.current - 1,
            Qt.Key.Key_Right: self.current + 1,
            Qt.Key.Key_Home: 0,
            Qt.Key.Key_End: self.kept - 1,
            Qt.Key.Key_PageUp: self.current - 10,
            Qt.Key.Key_PageDown: self.current + 10,
        }
        if event.key() in moves and self.kept:
            self._grab()
            self.set_current(moves[event.key()])
            event.accept()
            return
        super().keyPressEvent(event)

    # --- painting ----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        h = self.height()
        painter.fillRect(self.rect(), QColor(30, 32, 36))
        if self.total <= 0:
            painter.setPen(QColor(140, 144, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The steps of the next run appear here")
            return
        track = QRectF(self.MARGIN, h / 2 - 2, self.width() - 2 * self.MARGIN, 4)
        painter.fillRect(track, QColor(58, 61, 68))
        if self.kept:
            done = QRectF(track.left(), track.top(), self._cell() * self.kept, track.height())
            painter.fillRect(done, QColor(70, 110, 170))
        every = max(1, int(np.ceil(self.total / max(self.width() / 4, 1))))  # at most a tick per 4 px
        for step in range(0, self.total, every):
            x = self.x_of(step)
            parent = self.branch_at is not None and step <= self.branch_at
            if step >= self.kept:
                color = QColor(80, 84, 92)
            else:
                color = QColor(200, 170, 90) if parent else QColor(190, 200, 215)
            major = step % 10 == 9 or step == self.total - 1
            painter.setPen(QPen(color, 1.5 if major else 1.0))
            size = 9 if major else 6
            painter.drawLine(QPointF(x, h / 2 - size), QPointF(x, h / 2 + size))
        if self.branch_at is not None:
            x = self.x_of(self.branch_at) + self._cell() / 2
            painter.setPen(QPen(QColor(220, 180, 80), 2))
            painter.drawLine(QPointF(x, 3), QPointF(x, h - 3))
        if 0 <= self.current < self.total:
            x = self.x_of(self.current)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(255, 255, 255) if self.hasFocus() else QColor(225, 228, 235))
            painter.drawPolygon(QPolygonF([QPointF(x - 6, 2), QPointF(x + 6, 2), QPointF(x, 10)]))
            painter.drawRoundedRect(QRectF(x - 2, 8, 4, h - 14), 2, 2)


class TimelinePanel(QWidget):
    """Play, the strip, the step readout, which image of a batch, Branch and Export."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.play_button = QToolButton()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("Play the whole run")
        self.play_button.setCheckable(True)
        self.strip = TimelineStrip()
        self.step_label = QLabel("No steps")
        self.image_box = QSpinBox()
        self.image_box.setPrefix("image ")
        self.image_box.setToolTip("The image of the batch a branch continues")
        self.image_box.hide()
        self.compare_box = QCheckBox("A/B")
        self.compare_box.setToolTip(
            "Compare with the parent at the same step: the parent left, this branch right (drag the divider on the canvas)"
        )
        self.divider = QSlider(Qt.Orientation.Horizontal)
        self.divider.setRange(0, 100)
        self.divider.setValue(50)
        self.divider.setToolTip("Where the parent ends and the branch begins")
        # the canvas draws the divider's handle (drag it, or the arrow keys): the slider is its model, not shown
        self.divider.hide()
        self.set_compare_available(False)
        self.branch_sampler = QComboBox()
        self.branch_sampler.setToolTip(
            "The sampler of the branch: the parent's, or another that continues the parent's timesteps from the step"
        )
        self.branch_sampler.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.branch_sampler.setMinimumContentsLength(9)
        self.set_branch_samplers(None)
        self.branch_button = QPushButton("Branch")
        self.branch_button.setToolTip(
            "Run the rest of the schedule from the shown step with the prompt, guidance and seed of the panels"
        )
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the steps as an animated GIF/WebP or a PNG strip")
        # the strip gets the dock's whole width; the controls sit on a row under it
        column = QVBoxLayout(self)
        column.setContentsMargins(6, 2, 6, 4)
        column.setSpacing(2)
        column.addWidget(self.strip)
        row = QHBoxLayout()
        row.addWidget(self.play_button)
        row.addWidget(self.step_label)
        row.addStretch(1)
        row.addWidget(self.compare_box)
        row.addWidget(self.image_box)
        row.addWidget(self.branch_sampler)
        row.addWidget(self.branch_button)
        row.addWidget(self.export_button)
        column.addLayout(row)
        # narrower than its controls when the window is: the canvas column decides the window's minimum
        self.setMinimumWidth(160)
        self._timer = QTimer(self)
        self._timer.setInterval(PLAY_INTERVAL_MS)
        self._timer.timeout.connect(self._advance)
        self.play_button.toggled.connect(self._toggle_play)
        self.set_enabled_actions(False)

    def set_branch_samplers(self, parent: str | None) -> None:
        """The samplers a branch of a `parent` run may use: its own first, then those it can switch to."""
        self.branch_sampler.clear()
        self.branch_sampler.addItem("Same sampler", None)
        for name, spec in SAMPLERS.items():
            if name == parent:
                continue
            try:
                check_switch(parent or "ddim", name)
            except RequestError:
                continue
            self.branch_sampler.addItem(spec.label, name)

    def set_enabled_actions(self, enabled: bool) -> None:
        for widget in (self.play_button, self.branch_button, self.export_button, self.branch_sampler):
            widget.setEnabled(enabled)

    def set_compare_available(self, available: bool) -> None:
        """A/B only shows for a branch whose parent's steps are known."""
        self.compare_box.setVisible(available)
        self.divider.setEnabled(self.compare_box.isChecked())

    @property
    def comparing(self) -> bool:
        return self.compare_box.isVisible() and self.compare_box.isChecked()

    def show_step(self, step: int, total: int, note: str = "") -> None:
        self.step_label.setText(f"Step {step + 1} / {total}{note}")

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def _toggle_play(self, on: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if on else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        if on:
            self.strip._grab()
            if self.strip.current >= self.strip.kept - 1:
                self.strip.set_current(0)
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        if self.strip.current >= self.strip.kept - 1:
            self.play_button.setChecked(False)
            return
        self.strip.set_current(self.strip.current + 1)


class TimelineHook(QObject):
    """Wires the timeline into the window: which job it shows, scrubbing, decode, branch, export."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.store = self.controller.trajectories
        self.panel = TimelinePanel()
        self.dock = QDockWidget("Timeline")
        self.dock.setObjectName("timeline_dock")
        self.dock.setWidget(self.panel)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        # under the canvas only: the side docks keep the full height
        window.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        window.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)

        self.job: int | None = None  # the job the strip shows
        self.files: dict[int, list[str]] = {}
        self.final: dict[int, QImage] = {}  # the finished full decode of each job
        self.decoded: dict[tuple[int, int], QImage] = {}  # kept steps decoded with Ctrl+D (latest few)
        self.parents: dict[int, int] = {}  # branch job → the job it branched from (A/B compare)
        self.last_show_ms = 0.0

        self.store.set_budget_mb(window.settings.get(BUDGET_KEY, DEFAULT_BUDGET_MB, (int, float)))
        self._build_actions()
        c = self.controller
        c.preview.connect(self._on_preview)
        c.started.connect(self._on_started)
        c.progress.connect(self._on_progress)
        c.finished.connect(self._on_finished)
        c.cancelled.connect(self._on_stopped)
        c.failed.connect(self._on_failed)
        c.step_decoded.connect(self._on_step_decoded)
        c.step_decode_failed.connect(self._on_step_decode_failed)
        window.decode_action.triggered.disconnect()
        window.decode_action.triggered.connect(self.decode)
        window.gallery.open_requested.connect(self._on_file_opened)
        self.panel.strip.step_changed.connect(self.show_step)
        self.panel.branch_button.clicked.connect(self.branch)
        self.panel.export_button.clicked.connect(self.ask_export)
        self.panel.compare_box.toggled.connect(self._on_compare_changed)
        self.panel.divider.valueChanged.connect(self._on_compare_changed)
        window.canvas.ab_moved.connect(lambda fraction: self.panel.divider.setValue(round(fraction * 100)))

    def _build_actions(self) -> None:
        w = self.window
        self.branch_action = QAction("&Branch from the shown step", w)
        self.branch_action.setShortcut("Ctrl+Shift+Return")
        self.branch_action.triggered.connect(self.branch)
        self.export_action = QAction("&Export timeline…", w)
        self.export_action.triggered.connect(self.ask_export)
        self.remake_action = QAction("&Re-make the shown branch image", w)
        self.remake_action.setToolTip("Run a branch image's recipe again: its parents up to the step, then the branch")
        self.remake_action.triggered.connect(lambda: self.remake_branch())
        self.budget_action = QAction("Timeline &memory budget…", w)
        self.budget_action.triggered.connect(self.ask_budget)
        menus = {a.text(): a.menu() for a in w.menuBar().actions()}
        run_menu, view_menu = menus.get("&Run"), menus.get("&View")
        if run_menu is not None:
            run_menu.addAction(self.branch_action)
            run_menu.addAction(self.export_action)
            run_menu.addAction(self.remake_action)
        if view_menu is not None:
            view_menu.addAction(self.dock.toggleViewAction())
            view_menu.addAction(self.budget_action)

    # --- what is shown -----------------------------------------------------------------------

    @property
    def trajectory(self) -> Trajectory | None:
        return self.store.get(self.job) if self.job is not None else None

    def view_job(self, job: int) -> bool:
        """Show job `job`'s timeline at its last kept step; False when nothing of it is kept."""
        trajectory = self.store.get(job)
        if trajectory is None or not len(trajectory):
            return False
        self.job = job
        self._set_run(trajectory, len(trajectory))
        self.panel.strip.following = False
        self.panel.set_enabled_actions(True)
        self.show_step(len(trajectory) - 1)
        return True

    def _set_run(self, trajectory: Trajectory | None, kept: int, total: int = 0, images: int = 1) -> None:
        """Lay the strip out for a run: from its kept trajectory, or (a run just started) from its progress."""
        origin = trajectory.origin if trajectory is not None else None
        total = max(total, trajectory.total if trajectory is not None else 0, kept)
        self.panel.strip.set_run(total, kept, origin.step if origin is not None else None)
        parent_sampler = trajectory.request.settings.sampler if trajectory is not None else None
        if self.panel.branch_sampler.property("parent") != parent_sampler:  # keep the choice while scrubbing
            self.panel.branch_sampler.setProperty("parent", parent_sampler)
            self.panel.set_branch_samplers(parent_sampler)
        batch = trajectory.request.settings.batch_size if trajectory is not None else images
        self.panel.image_box.setRange(0, max(batch - 1, 0))
        self.panel.image_box.setVisible(batch > 1)
        self.panel.set_compare_available(self.parents.get(self.job) in self.store.jobs())

    def show_step(self, step: int) -> None:
        """Put kept step `step` of the shown job on the canvas (the finished image at the last step)."""
        start = time.perf_counter()
        trajectory = self.trajectory
        if trajectory is None or step >= len(trajectory):
            return
        request = trajectory.request
        total = max(trajectory.total, len(trajectory))
        s = request.settings
        rows, cols = grid_shape(s.batch_size)
        size = (cols * s.width, rows * s.height)
        note = ""
        if step == total - 1 and self.job in self.final:
            image = self.final[self.job]
            note = " (finished)"
        elif (self.job, step) in self.decoded:
            image = self.decoded[(self.job, step)]
            note = " (decoded)"
        else:
            thumbnail = trajectory.thumbnail(step)
            if thumbnail is None:
                return
            image = grid_qimage(thumbnail)
            note = " (preview)"
        if trajectory.origin is not None:
            note += f" · from step {trajectory.origin.step + 1}"
        ab = None  # the A/B divider: the canvas draws its handle, which the mouse drags too
        if self.panel.comparing and s.batch_size == 1:
            parent = self._parent_image(step)
            if parent is not None:
                ab = self.panel.divider.value() / 100
                image = compose_ab(parent, image, s.width, s.height, ab, line=False)
        if self.window.canvas.image is not image:
            self.window.canvas.show_image(image, size, s.batch_size, ab_divider=ab)
        self.panel.show_step(step, total, note)
        self.last_show_ms = (time.perf_counter() - start) * 1000

    def _parent_image(self, step: int) -> QImage | None:
        """The parent's picture at `step`: its finished image at the last step, else its preview then."""
        parent_job = self.parents.get(self.job)
        parent, origin = self.store.get(parent_job), self.trajectory.origin if self.trajectory else None
        if parent is None or origin is None or step >= len(parent):
            return None
        files = self.files.get(parent_job, [])
        if step == max(parent.total, len(parent)) - 1 and origin.image < len(files):
            image = QImage(files[origin.image])
            if not image.isNull():
                return image
        thumbnail = parent.thumbnail(step)
        return grid_qimage(thumbnail[origin.image : origin.image + 1]) if thumbnail is not None else None

    def _on_compare_changed(self, *_: object) -> None:
        self.panel.divider.setEnabled(self.panel.compare_box.isChecked())
        if self.panel.strip.current >= 0:
            self.show_step(self.panel.strip.current)

    # --- controller reports ------------------------------------------------------------------

    def holds(self, frame: Frame) -> bool:
        """Whether a live frame must not replace the canvas: the person is looking at another step of its job."""
        return frame.job == self.job and not self.panel.strip.following

    @Slot(object)
    def _on_preview(self, frame: Frame) -> None:
        if frame.final:  # the finished full decode, shown again when its last step is scrubbed to
            self.final[frame.job] = frame.image
            while len(self.final) > 32:
                self.final.pop(next(iter(self.final)))

    @Slot(int)
    def _on_started(self, job: int) -> None:
        if self.controller.is_batch(job):
            return
        self.job = job
        self.panel.play_button.setChecked(False)
        self._set_run(None, 0)
        self.panel.set_enabled_actions(False)
        self.panel.step_label.setText("Running…")

    @Slot(object)
    def _on_progress(self, progress: JobProgress) -> None:
        if progress.job != self.job:
            return
        done, total = progress.done, progress.total
        if self.panel.strip.kept == 0:  # the first step: the run's real length and its batch
            self._set_run(self.trajectory, 0, total, progress.images)
        trajectory = self.trajectory
        kept = len(trajectory) if trajectory is not None else done
        if self.panel.strip.branch_at is None and trajectory is not None and trajectory.origin is not None:
            self.panel.strip.branch_at = trajectory.origin.step
        self.panel.strip.set_kept(kept, total)
        self.panel.play_button.setEnabled(True)
        if self.panel.strip.following:
            self.panel.show_step(kept - 1, self.panel.strip.total, " (live)")

    @Slot(int, list)
    def _on_finished(self, job: int, files: list) -> None:
        self.files[job] = list(files)
        if job != self.job:
            return
        following = self.panel.strip.following
        trajectory = self.trajectory
        if trajectory is None:
            return
        self.panel.strip.set_kept(len(trajectory), trajectory.total)
        self.panel.set_enabled_actions(True)
        if following:
            self.show_step(len(trajectory) - 1)
        else:
            self.show_step(self.panel.strip.current)

    @Slot(int, str)
    def _on_failed(self, job: int, message: str) -> None:
        self._on_stopped(job)

    @Slot(int)
    def _on_stopped(self, job: int) -> None:
        if job == self.job:
            trajectory = self.trajectory
            self.panel.set_enabled_actions(trajectory is not None and len(trajectory) > 0)

    @Slot(str)
    def _on_file_opened(self, path: str) -> None:
        for job, files in self.files.items():
            if path in files:
                self.view_job(job)
                return

    # --- commands ------------------------------------------------------------------------------

    def decode(self) -> None:
        """Ctrl+D: decode the live step while following a run, else the shown kept step."""
        strip = self.panel.strip
        if self.job is not None and self.job == self.controller.current_job and strip.following:
            self.controller.request_full_preview()
        elif self.job is not None and strip.current >= 0:
            self.window.show_message(f"Decoding step {strip.current + 1}…")
            self.controller.decode_step(self.job, strip.current)
        else:
            self.controller.request_full_preview()

    @Slot(int, int, QImage)
    def _on_step_decoded(self, job: int, step: int, image: QImage) -> None:
        self.decoded[(job, step)] = image
        self.window.show_message(f"Step {step + 1} of job {job} decoded")
        while len(self.decoded) > 16:
            self.decoded.pop(next(iter(self.decoded)))
        if job == self.job and step == self.panel.strip.current:
            self.show_step(step)

    @Slot(int, int, str)
    def _on_step_decode_failed(self, job: int, step: int, message: str) -> None:
        self.window.show_error(f"Step {step + 1} could not be decoded: {message}")

    def branch(self) -> int | None:
        """Queue a branch of the shown job from the shown step, with the panels' prompt, guidance and seed.

        Steps and size stay the parent's (the branch runs the rest of its schedule), the sampler too unless
        the panel's branch sampler names another (it continues the parent's timesteps); a
        "Random" seed keeps the parent's noise, a fixed seed gives fresh noise from the step on."""
        window, trajectory, step = self.window, self.trajectory, self.panel.strip.current
        if trajectory is None or step < 0:
            window.show_error("Nothing to branch from: generate an image first.")
            return None
        total = max(trajectory.total, len(trajectory))
        if step >= total - 1:
            window.show_error("Pick an earlier step to branch from: the last step has nothing left to run.")
            return None
        image = self.panel.image_box.value() if trajectory.request.settings.batch_size > 1 else 0
        parent = trajectory.request.for_image(image)
        try:
            condition = window.conditioning.condition()
            panel = window.sampler.settings(lambda: parent.settings.seed, 1)
            sampler = self.panel.branch_sampler.currentData() or parent.settings.sampler
            settings = replace(
                parent.settings,
                guidance=panel.guidance,
                guidance_schedule=panel.guidance_schedule,
                seed=panel.seed,
                sampler=sampler,
            )
            child = GenerationRequest(condition, settings, parent.init)  # a branch keeps the start picture
            if window.controller.model_info is not None:
                child.check_for(window.controller.model_info)
            check_branch(BranchOrigin(parent, step, image), child)  # a sampler it cannot switch to: say so now
        except RequestError as exc:
            window.show_error(str(exc))
            return None
        sha = trajectory.image_sha256[image] if image < len(trajectory.image_sha256) else None
        origin = BranchOrigin(parent, step, image, sha, trajectory.origin)
        window.clear_error()
        job = self.controller.submit(child, origin, parent_job=self.job)
        self.parents[job] = self.job
        window.show_message(f"Branching job {self.job} at step {step + 1} as job {job}")
        return job

    def remake_branch(self, path: str | None = None) -> int | None:
        """Queue a branch image's recipe (default: the shown image): the parents are re-run to the step."""
        window = self.window
        path = path or (window.result_files[0] if window.result_files else None)
        if path is None:
            window.show_error("Open a branch image first (its recipe names its parent and the step).")
            return None
        try:
            restored = read_png_recipe(path)
            origin = origin_from_recipe(restored.recipe or {})
            if origin is None:
                raise RequestError("branch", f"{Path(path).name} is not a branch image (its recipe names no parent)")
            request = restored.request()
            if window.controller.model_info is not None:
                request.check_for(window.controller.model_info)
        except LdmStudioError as exc:
            window.show_error(str(exc))
            return None
        window.clear_error()
        job = self.controller.submit(request, origin)
        window.show_message(f"Re-making {Path(path).name}: its parent to step {origin.step + 1}, then the branch")
        return job

    def ask_export(self) -> None:
        if self.trajectory is None:
            self.window.show_message("Nothing to export yet: generate an image first.")
            return
        name = f"timeline-j{self.job}.webp"
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export timeline", name, "Animated WebP (*.webp);;Animated GIF (*.gif);;PNG strip (*.png)"
        )
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> Path | None:
        """Write the shown job's steps (the previews, the finished image last) as an animation or strip."""
        trajectory = self.trajectory
        if trajectory is None:
            return None
        s = trajectory.request.settings
        rows, cols = grid_shape(s.batch_size)
        size = (cols * s.width, rows * s.height)
        frames = trajectory.frames(size=size)
        final = self.final.get(self.job)
        if final is not None and frames and len(trajectory) == trajectory.total:
            frames[-1] = qimage_array(final, size)
        try:
            written = export_frames(frames, path)
        except (LdmStudioError, OSError) as exc:
            self.window.show_error(f"{path}: the timeline could not be exported ({exc})")
            return None
        self.window.show_message(f"Exported {len(frames)} steps to {Path(path).name}")
        return written

    def ask_budget(self) -> None:
        current = self.store.budget // (1 << 20)
        value, ok = QInputDialog.getInt(
            self.window, "Timeline memory budget", "Memory for kept steps (MB; the oldest jobs' go first):",
            current, 0, 1 << 20, 64,
        )
        if ok:
            self.set_budget_mb(value)

    def set_budget_mb(self, megabytes: int) -> None:
        self.store.set_budget_mb(megabytes)
        self.window.settings.set(BUDGET_KEY, int(megabytes))


def qimage_array(image: QImage, size: tuple[int, int]) -> np.ndarray:
    """A QImage as (H, W, 3) uint8 at `size` (width, height)."""
    scaled = image.convertToFormat(QImage.Format.Format_RGB888).scaled(
        size[0], size[1], Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    width, height, stride = scaled.width(), scaled.height(), scaled.bytesPerLine()
    data = np.frombuffer(scaled.constBits(), dtype=np.uint8, count=stride * height).reshape(height, stride)
    return data[:, : width * 3].reshape(height, width, 3).copy()


def install_timeline(window: MainWindow) -> TimelineHook:
    """Put the timeline under `window`'s canvas (call once, after its widgets and actions exist)."""
    return TimelineHook(window)


__all__ = ["TimelineHook", "TimelinePanel", "TimelineStrip", "install_timeline"]
