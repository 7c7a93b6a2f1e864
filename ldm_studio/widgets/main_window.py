"""The main window: model picker, conditioning and sampler panels, canvas, history, status.

It talks to the engine only through `EngineController` signals and methods; nothing here
runs model code.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QImage, QImageReader, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QToolBar,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ldm_studio.core.errors import LdmStudioError, RequestError
from ldm_studio.core.families.registry import get_family
from ldm_studio.core.files.recipe import RECIPE_KEY, read_png_recipe
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.image_inputs import SuperResCondition
from ldm_studio.core.generation.requests import GenerationRequest, random_seed
from ldm_studio.core.models.demo_model import demo_model_path
from ldm_studio.core.models.model_folder import ModelInfo, read_model_info
from ldm_studio.qt.controller import EngineController
from ldm_studio.qt.reports import Frame, JobProgress
from ldm_studio.widgets.about_dialog import AboutDialog
from ldm_studio.widgets.batch_dialog import BatchDialog
from ldm_studio.widgets.canvas import DEMO_PROMPT_EXAMPLE, ImageCanvas
from ldm_studio.widgets.conditioning_panel import ConditioningPanel, PromptTab
from ldm_studio.widgets.controlnet_panel import install_controlnet
from ldm_studio.widgets.controls_column import ElidedLabel, controls_column
from ldm_studio.widgets.gallery import HistoryGallery
from ldm_studio.widgets.icons import app_icon, show_dialog
from ldm_studio.widgets.image_actions import install_image_actions
from ldm_studio.widgets.image_input import PictureTab
from ldm_studio.widgets.map_painter import install_map_painter
from ldm_studio.widgets.model_picker import ModelPicker
from ldm_studio.widgets.models_dialog import ModelsDialog
from ldm_studio.widgets.preview_menu import install_preview_menu
from ldm_studio.widgets.progress_panel import ProgressPanel
from ldm_studio.widgets.recipe_restore import apply_recipe
from ldm_studio.widgets.recipes import describe_recipe
from ldm_studio.widgets.sampler_panel import SamplerPanel
from ldm_studio.widgets.settings_store import SettingsStore
from ldm_studio.widgets.speed_setting import install_speed_menu
from ldm_studio.widgets.superres_offer import SuperResOffer, offer_superres
from ldm_studio.widgets.threads_setting import install_threads_action, window_threads
from ldm_studio.widgets.timeline import install_timeline
from ldm_studio.widgets.welcome import WelcomePanel

MESSAGE_MS = 8000


def upscales(info: ModelInfo) -> bool:
    """Whether the model's family takes a picture to upscale (asked of the registry, not by name)."""
    spec = get_family(info.family)
    return spec is not None and SuperResCondition in spec.input_types


class MainWindow(QMainWindow):
    """One window per app; owns the engine controller and shuts it down on close."""

    def __init__(
        self,
        model: str | None = None,
        controller: EngineController | None = None,
        settings: SettingsStore | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("LDM Studio")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)  # drop a PNG to restore its recipe
        self.models_dialog: ModelsDialog | None = None
        self.batch_dialog: BatchDialog | None = None
        self.settings = settings or SettingsStore()
        self.settings.load()
        self.controller = controller or EngineController(Engine(threads=window_threads(self.settings)), parent=self)
        self.result_files: list[str] = []
        self.last_error = ""
        self.last_restore = ""  # what opening an image restored, and what not
        self._pending_upscale: str | None = None  # a picture to upscale once the superres model has loaded
        self.superres_offer: SuperResOffer | None = None  # the last "download a superres model" offer
        self._build_widgets()
        self._build_actions()
        self._connect()
        self.map_painter = install_map_painter(self)  # the map editor beside the output, live mode
        self.controlnet = install_controlnet(self)  # a ControlNet on sd models, the painter in ADE20K
        self.timeline = install_timeline(self)  # every step kept: scrub, play, export, branch
        self.image_actions = install_image_actions(self)  # canvas → input, Inpaint region…, before/after
        self._restore_settings()
        if self.settings.problem:
            self.show_message(self.settings.problem, 30_000)
        start = model or self.settings.get("model", None, str)
        demo = demo_model_path()
        if start is None and "model" not in self.settings.values and demo is not None:
            start = str(demo)  # first run: the shipped demo model, so the window works offline at once
        if start and Path(start).is_dir():
            self.open_model(start)
        self.welcome.setVisible(not self.controller.loading and self.controller.model_info is None)

    # --- building ------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.canvas = ImageCanvas()
        self.setCentralWidget(self.canvas)
        self.welcome = WelcomePanel(self.canvas)

        self.model_picker = ModelPicker()
        self.device_label = QLabel(f"Device: {self.controller.device_label}")
        self.device_label.setToolTip(self.controller.engine.choice.note or "Where sampling runs")
        toolbar = QToolBar("Model")
        toolbar.setObjectName("model_toolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(QLabel(" Model "))
        toolbar.addWidget(self.model_picker)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addWidget(self.device_label)
        toolbar.addWidget(QLabel("  "))
        self.addToolBar(toolbar)

        self.conditioning = ConditioningPanel()
        self.conditioning.setMinimumHeight(220)
        self.sampler = SamplerPanel()
        sampler_box = QCollapsible("Sampler settings")
        sampler_box.addWidget(self.sampler)
        sampler_box.expand(animate=False)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.hide()
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.generate_button.setMinimumHeight(36)
        self.generate_button.setDefault(True)
        font = self.generate_button.font()
        font.setBold(True)
        self.generate_button.setFont(font)
        self.queue_label = QLabel()

        panel = QWidget()
        column = QVBoxLayout(panel)
        column.addWidget(self.conditioning, 1)
        column.addWidget(sampler_box)
        # Generate, its error line and the queue stay in view below the scrolled inputs
        scroll_column, self.controls_scroll = controls_column(
            panel, [self.error_label, self.generate_button, self.queue_label]
        )
        self.controls_dock = QDockWidget("Generate")
        self.controls_dock.setObjectName("controls_dock")
        self.controls_dock.setWidget(scroll_column)
        self.controls_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.controls_dock)

        self.gallery = HistoryGallery()
        self.history_dock = QDockWidget("History")
        self.history_dock.setObjectName("history_dock")
        self.history_dock.setWidget(self.gallery)
        self.history_dock.setMinimumWidth(200)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.history_dock)

        self.progress = ProgressPanel()
        self.status_text = ElidedLabel()  # long messages end in "…", the whole text in its tooltip
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.timeout.connect(lambda: self.status_text.set_full_text(""))

    def _build_actions(self) -> None:
        def action(text: str, slot, *keys: QKeySequence | str) -> QAction:
            act = QAction(text, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.triggered.connect(slot)
            return act

        self.open_action = action("&Open model folder…", self.model_picker.ask_folder, QKeySequence.StandardKey.Open)
        self.save_action = action("&Save image as…", self.save_as, QKeySequence.StandardKey.Save)
        self.history_action = action("Open &history folder", self.gallery.open_folder)
        self.quit_action = action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.generate_action = action("&Generate", self.generate, "Ctrl+Return", "Ctrl+Enter")
        self.cancel_action = action("&Cancel", self.cancel, "Esc")
        self.decode_action = action("&Decode preview now", self.controller.request_full_preview, "Ctrl+D")
        self.fit_action = action("&Fit to window", self.canvas.fit, "Ctrl+0")
        self.actual_action = action("&Actual size", self.canvas.actual_size, "Ctrl+1")
        self.about_action = action("&About LDM Studio", self.show_about)
        self.open_image_action = action("Open &image…", self.ask_image, "Ctrl+Shift+O")
        self.models_action = action("&Models…", self.show_models)
        self.batch_action = action("&Batch…", self.show_batch, "Ctrl+B")

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        file_actions = (self.open_action, self.open_image_action, self.save_action, self.history_action)
        for act in (*file_actions, self.models_action):
            file_menu.addAction(act)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        run_menu = menus.addMenu("&Run")
        run_menu.addAction(self.generate_action)
        run_menu.addAction(self.cancel_action)
        run_menu.addAction(self.decode_action)
        run_menu.addSeparator()
        run_menu.addAction(self.batch_action)
        self.threads_action = install_threads_action(self, run_menu, self.settings, self.controller.engine)
        self.speed_actions = install_speed_menu(self, run_menu, self.settings, self.controller.engine)
        view_menu = menus.addMenu("&View")
        view_menu.addAction(self.fit_action)
        view_menu.addAction(self.actual_action)
        self.preview_actions = install_preview_menu(self, view_menu)
        view_menu.addSeparator()
        view_menu.addAction(self.controls_dock.toggleViewAction())
        view_menu.addAction(self.history_dock.toggleViewAction())
        menus.addMenu("&Help").addAction(self.about_action)

    def _connect(self) -> None:
        c = self.controller
        # the prompt box's schedule hint counts the sampler panel's steps
        self.sampler.steps.valueChanged.connect(self.conditioning.text.set_steps)
        self.conditioning.text.set_steps(self.sampler.steps.value())
        c.queued.connect(self._on_queued)
        c.started.connect(self._on_started)
        c.progress.connect(self._on_progress)
        c.preview.connect(self._on_preview)
        c.finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.cancelled.connect(self._on_cancelled)
        c.idle.connect(self._on_idle)
        c.model_loading.connect(self._on_model_loading)
        c.model_loaded.connect(self._on_model_loaded)
        c.model_failed.connect(self._on_model_failed)
        self.generate_button.clicked.connect(self.generate)
        self.progress.cancel_requested.connect(self.cancel)
        self.model_picker.model_chosen.connect(self.open_model)
        self.gallery.open_requested.connect(self.show_file)
        self.gallery.use_as_input.connect(self.use_as_input)
        self.gallery.vary.connect(self.vary)
        self.gallery.upscale.connect(self.upscale)
        for tab in (self.conditioning.image, *self.conditioning.editors.values()):
            if isinstance(tab, PictureTab):
                tab.message.connect(self.show_error)
        self.gallery.message.connect(self.show_message)
        self.welcome.use_demo.connect(self.open_model)
        self.welcome.get_models.connect(self.show_models)
        self.welcome.open_folder.connect(self.model_picker.ask_folder)

    # --- commands --------------------------------------------------------------------------

    def open_model(self, folder: str) -> None:
        """Load a model folder (after the running job); the panels follow when it has loaded."""
        self.model_picker.add_folder(folder)
        self.controller.load_model(folder)

    def generate(self) -> int | None:
        """Queue a job from the panels; returns its id, or None with the reason shown."""
        info = self.controller.model_info
        if info is None:
            self.show_error("Open a model first (Ctrl+O)." if not self.controller.loading else "The model is loading.")
            return None
        try:
            condition = self.conditioning.condition()
            settings = self.sampler.settings(random_seed, self.conditioning.image_count())
            fixed = condition.output_size(info)  # an upscale's output follows its input picture
            if fixed is not None:
                settings = replace(settings, width=fixed[0], height=fixed[1])
            request = GenerationRequest(condition, settings, self.conditioning.init())
            request.check_for(info)
        except RequestError as exc:
            self.show_error(str(exc))
            self.conditioning.show_problem(exc)
            return None
        self.clear_error()
        self.sampler.remember_seed(settings.seed)
        return self.controller.submit(request)

    def cancel(self) -> None:
        """Cancel the running job and empty the queue."""
        if self.controller.busy:
            self.controller.cancel_all()
            self.show_message("Cancelling…")

    def show_file(self, path: str) -> None:
        """Show a history image on the canvas, with its recipe in the status bar."""
        reader = QImageReader(path)
        recipe = reader.text(RECIPE_KEY)  # before read(): libpng cannot go back for the text chunks after it
        image = reader.read()
        if image.isNull():
            self.show_error(f"{path}: cannot be read ({reader.errorString()})")
            return
        self.canvas.show_image(image)
        self.result_files = [path]
        self.show_message(f"{Path(path).name}: {describe_recipe(recipe)}" if recipe else Path(path).name)

    def save_as(self) -> None:
        if not self.result_files:
            self.show_message("Nothing to save yet: generate an image or pick one from the history.")
            return
        if len(self.result_files) == 1:
            source = Path(self.result_files[0])
            target, _ = QFileDialog.getSaveFileName(self, "Save image as", source.name, "Images (*.png *.jpg *.webp)")
            if target:
                self.save_result_to(target)
            return
        folder = QFileDialog.getExistingDirectory(self, f"Save {len(self.result_files)} images to folder")
        if folder:
            self.save_result_to(folder)

    def save_result_to(self, target: str) -> list[str]:
        """Copy the shown result(s): PNG copies keep the recipe; other formats are converted."""
        written = []
        destination = Path(target)
        for source in map(Path, self.result_files):
            out = destination / source.name if destination.is_dir() else destination
            try:
                if out.suffix.lower() == ".png":
                    shutil.copy2(source, out)
                elif not QImage(str(source)).save(str(out)):
                    raise OSError(f"cannot write {out.suffix} files")
            except OSError as exc:
                self.show_error(f"{out}: cannot be saved ({getattr(exc, 'strerror', None) or exc})")
                return written
            written.append(str(out))
        self.show_message(f"Saved {', '.join(Path(w).name for w in written)}")
        return written

    def show_message(self, text: str, timeout_ms: int = MESSAGE_MS) -> None:
        self.status_text.set_full_text(text)
        self._status_timer.start(timeout_ms)

    def status_message(self) -> str:
        """The status line's whole text (it may show elided)."""
        return self.status_text.full_text

    def show_error(self, text: str) -> None:
        self.last_error = text
        self.error_label.setText(text)
        self.error_label.show()
        self.show_message(text, MESSAGE_MS * 2)

    def clear_error(self) -> None:
        self.error_label.hide()
        self.error_label.clear()

    # --- controller reports ----------------------------------------------------------------

    @Slot(int)
    def _on_queued(self, job: int) -> None:
        self._update_queue_label()
        if self.controller.current_job not in (None, job):
            self.show_message(f"Job {job} queued")

    @Slot(int)
    def _on_started(self, job: int) -> None:
        self._update_queue_label()
        if not self.controller.is_batch(job):
            self.progress.set_busy("Starting…")  # the first step also encodes the condition
            self.canvas.fit()

    @Slot(object)
    def _on_progress(self, p: JobProgress) -> None:
        self.progress.set_progress(p.done, p.total, p.rate, p.eta, p.requested)

    @Slot(object)
    def _on_preview(self, frame: Frame) -> None:
        if self.timeline.holds(frame):  # the person is looking at another step of this job
            return
        self.canvas.show_frame(frame)

    @Slot(int, list)
    def _on_finished(self, job: int, files: list) -> None:
        self.result_files = list(files)
        self.gallery.add_files(files)
        self._update_queue_label()
        self.show_message(f"Saved {len(files)} image(s) to the history folder")

    @Slot(int, str)
    def _on_failed(self, job: int, message: str) -> None:
        self._update_queue_label()
        self.show_error(f"Job {job} failed: {message}")

    @Slot(int)
    def _on_cancelled(self, job: int) -> None:
        self._update_queue_label()
        self.show_message(f"Job {job} cancelled")

    @Slot()
    def _on_idle(self) -> None:
        self.progress.set_idle()
        self._update_queue_label()

    @Slot(str)
    def _on_model_loading(self, folder: str) -> None:
        self.progress.set_busy(f"Loading {Path(folder).name}…")
        self.generate_button.setEnabled(False)

    @Slot(object)
    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.welcome.hide()
        self.conditioning.set_family(info.family, info)
        self.canvas.set_placeholder(f"Generate (Ctrl+Enter) makes an image with {info.name}")
        # a model of the demo trainer knows only its caption words: the example uses them
        is_demo = (info.provenance or {}).get("trained_by") == "ldm-studio train-demo"
        self.conditioning.text.prompt.setPlaceholderText(
            f"e.g. {DEMO_PROMPT_EXAMPLE}" if is_demo else PromptTab.PLACEHOLDER
        )
        self.sampler.apply_defaults(info)
        self.generate_button.setEnabled(True)
        self.setWindowTitle(f"LDM Studio — {info.name}")
        self.model_picker.refresh(select=str(info.path))
        self.settings.set("model", str(info.path))
        if not self.controller.busy:
            self.progress.set_idle()
        self.clear_error()
        self.show_message(
            f"Loaded {info.name} ({info.family}) on {self.controller.device_label}; "
            f"live preview: {self.controller.preview_source}"
        )
        if self._pending_upscale is not None and upscales(info):
            self._start_upscale(self._pending_upscale)

    @Slot(str)
    def _on_model_failed(self, message: str) -> None:
        self._pending_upscale = None
        self.generate_button.setEnabled(self.controller.model_info is not None)
        self.welcome.setVisible(self.controller.model_info is None)
        if not self.controller.busy:
            self.progress.set_idle()
        self.show_error(f"The model could not be loaded: {message}")

    def _update_queue_label(self) -> None:
        waiting = len(self.controller.queued_jobs)
        self.queue_label.setText(f"{waiting} job(s) waiting" if waiting else "")

    # --- settings and closing --------------------------------------------------------------

    def _restore_settings(self) -> None:
        s = self.settings
        geometry, state = s.get_bytes("geometry"), s.get_bytes("window_state")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        if state is not None:
            self.restoreState(state)
        opened = s.get("opened_models", [], list)
        self.model_picker.opened = [f for f in opened if isinstance(f, str)]
        self.model_picker.refresh()
        self.conditioning.restore(s.get("conditioning", {}, dict))
        self.sampler.restore(s.get("sampler", {}, dict))
        self.gallery.reload()

    def save_settings(self) -> None:
        s = self.settings
        s.set_bytes("geometry", self.saveGeometry())
        s.set_bytes("window_state", self.saveState())
        s.set("opened_models", self.model_picker.opened)
        s.set("conditioning", self.conditioning.state())
        s.set("sampler", self.sampler.state())
        try:
            s.save()
        except OSError as exc:
            self.show_error(f"Settings could not be saved to {s.path} ({exc.strerror or exc})")

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save settings, cancel whatever runs, stop the engine thread, then close."""
        self.save_settings()
        if self.models_dialog is not None:
            self.models_dialog.shutdown()
        self.controller.shutdown()
        event.accept()

    # --- recipes, models, batch, about ------------------------------------------------------

    def ask_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image (restores its recipe)", "", "PNG images (*.png)")
        if path:
            self.open_image(path)

    def open_image(self, path: str) -> bool:
        """Show a PNG and restore its recipe into the panels; says what could not be restored."""
        try:
            recipe = read_png_recipe(path)
        except LdmStudioError as exc:
            self.show_error(f"{exc}. Nothing was restored.")
            image = QImage(path)
            if not image.isNull():
                self.canvas.show_image(image)
            self.image_actions.picture_opened(path)  # nothing to compare it with
            return False
        result = apply_recipe(recipe, self.conditioning, self.sampler, self.controller.model_info)
        image = QImage(path)
        if not image.isNull():
            self.canvas.show_image(image)
            self.result_files = [path]
        self.image_actions.picture_opened(path)  # its recipe's input picture, for before/after
        self.clear_error()
        self.last_restore = result.message(Path(path).name)
        self.show_message(self.last_restore)
        if result.not_restored or result.cleared or result.model_note:
            self.error_label.setText(self.last_restore)
            self.error_label.show()
        return True

    def use_as_input(self, path: str) -> bool:
        """Put a picture (a history image) into the loaded family's picture input and show that tab."""
        tab = self.conditioning.picture_tab()
        if not tab.load_file(path):
            return False
        self.conditioning.setCurrentWidget(tab)
        self.show_message(f"{Path(path).name} is the input picture ({tab.title} tab)")
        return True

    def vary(self, path: str) -> int | None:
        """Image-to-image from `path` at the Image tab's strength and mask, with a fresh seed: a variation."""
        if not self.conditioning.takes_init:
            self.show_error(f"A {self.conditioning.family} model takes its picture as its input: use the tab instead.")
            return None
        if not self.use_as_input(path):
            return None
        self.sampler.random_seed.setChecked(True)
        return self.generate()

    def upscale(self, path: str) -> bool:
        """Upscale ×4 with a super-resolution model: the loaded one, else the first the model list offers
        (loaded first; the job starts when it has loaded). False when there is none: the catalogue's is offered."""
        info = self.controller.model_info
        if info is not None and upscales(info) and not self.controller.loading:
            return self._start_upscale(path)
        folder = self._superres_folder()
        if folder is None:  # offer the catalogue's (download, then the upscale starts) instead of a dead end
            self.superres_offer = offer_superres(self, path)
            return False
        self._pending_upscale = path
        self.open_model(folder)
        return True

    def _superres_folder(self) -> str | None:
        for index in range(self.model_picker.combo.count()):
            folder = self.model_picker.combo.itemData(index)
            try:
                if folder and upscales(read_model_info(folder)):
                    return folder
            except LdmStudioError:
                continue
        return None

    def _start_upscale(self, path: str) -> bool:
        self._pending_upscale = None
        return self.use_as_input(path) and self.generate() is not None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.toLocalFile().lower().endswith(".png") for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.toLocalFile().lower().endswith(".png"):
                self.open_image(url.toLocalFile())
                event.acceptProposedAction()
                return

    def show_models(self) -> ModelsDialog:
        """The Models dialog (a fresh one after the last was closed: its thread ends with it)."""
        if self.models_dialog is None or not self.models_dialog.worker_thread.is_running:
            self.models_dialog = ModelsDialog(self, in_use=self._loaded_model_folder)
            self.models_dialog.model_installed.connect(self._on_model_installed)
            self.models_dialog.models_changed.connect(self.model_picker.refresh)
        show_dialog(self.models_dialog)
        return self.models_dialog

    def _loaded_model_folder(self) -> Path | None:
        info = self.controller.model_info
        return Path(info.path) if info is not None else None

    def show_batch(self) -> BatchDialog:
        if self.batch_dialog is None:
            self.batch_dialog = BatchDialog(self.controller, self)
            self.batch_dialog.images_written.connect(self.gallery.add_files)  # batch results in History too
        show_dialog(self.batch_dialog)
        return self.batch_dialog

    def show_about(self) -> AboutDialog:
        dialog = AboutDialog(self.controller.device_label, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    @Slot(str)
    def _on_model_installed(self, folder: str) -> None:
        self.model_picker.refresh()
        self.show_message(f"Installed {Path(folder).name}: pick it in the model list")
