"""File ▸ Models…: the catalogue and the installed models, with Download, Import, Remove, Verify.

Every manager call runs on the dialog's own background thread (`ManagerThread`), one at a
time, with a progress bar showing bytes, speed and ETA, and a Cancel button. Errors (offline,
checksum, disk space, an invalid model) are shown as the manager words them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.core.models.manager import ModelRow, Progress, VerifyReport, format_bytes
from ldm_studio.core.models.manager.registry import InstalledModel
from ldm_studio.qt.manager_worker import ManagerTask, ManagerThread

COLUMNS = ("Name", "State", "Family", "Size", "Source", "Licence")
CHECKPOINT_FILTER = "Checkpoints (*.ckpt *.safetensors *.pt *.pth)"


class ModelsDialog(QDialog):
    """Lists models; `model_installed(folder)` tells the window a model is ready to pick."""

    model_installed = Signal(str)
    models_changed = Signal()

    def __init__(self, parent: QWidget | None = None, in_use: Callable[[], Path | None] | None = None) -> None:
        super().__init__(parent)
        self.in_use = in_use or (lambda: None)  # the loaded model's folder: it must not be removed
        self.setWindowTitle("Models")
        self.setObjectName("models_dialog")
        self.rows: list[ModelRow] = []
        self.task: ManagerTask | None = None
        self.last_error = ""
        self.last_progress: Progress | None = None
        self._wanted: tuple[str, bool] | None = None  # an entry to select (and download) once listed

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        self.download_button = QPushButton("Download")
        self.import_button = QPushButton("Import…")
        self.remove_button = QPushButton("Remove")
        self.verify_button = QPushButton("Verify")
        self.refresh_button = QPushButton("Refresh")
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        for button in (self.download_button, self.import_button, self.remove_button, self.verify_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.close_button)

        self.bar = QProgressBar()
        self.bar.setTextVisible(False)  # the label below says bytes, speed and ETA
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.progress_label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.bar, 1)
        progress_row.addWidget(self.cancel_button)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addLayout(progress_row)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.message)
        self.resize(820, 420)

        self.download_button.clicked.connect(self.download_selected)
        import_menu = QMenu(self.import_button)
        import_menu.addAction("Model folder…", self.ask_import_folder)
        import_menu.addAction("Checkpoint file (.ckpt + .yaml, .safetensors)…", self.ask_import_file)
        self.import_button.setMenu(import_menu)
        self.remove_button.clicked.connect(self.confirm_remove)
        self.verify_button.clicked.connect(self.verify_selected)
        self.refresh_button.clicked.connect(self.refresh)
        self.close_button.clicked.connect(self.close)
        self.cancel_button.clicked.connect(self.cancel)
        self.table.itemSelectionChanged.connect(self._sync_buttons)

        self.worker_thread = ManagerThread(self)
        self.worker_thread.connect_reports(
            self._on_listed, self._on_progress, self._on_done, self._on_failed, self._on_cancelled
        )
        self.refresh()

    # --- selection -----------------------------------------------------------------------------

    def selected_row(self) -> ModelRow | None:
        selected = self.table.selectionModel().selectedRows()
        return self.rows[selected[0].row()] if selected else None

    def select(self, name: str) -> bool:
        for i, row in enumerate(self.rows):
            if row.name == name:
                self.table.selectRow(i)
                return True
        return False

    def show_entry(self, name: str, download: bool = False) -> None:
        """Select catalogue entry `name` (after the listing in progress, if any) and optionally download it."""
        if self.busy and self.task is not None and self.task.kind == "list":
            self._wanted = (name, download)
            return
        self._take_entry(name, download)

    def _take_entry(self, name: str, download: bool) -> None:
        if not self.select(name):
            self._show_error(f"{name} is not in the catalogue.")
        elif download:
            row = self.selected_row()
            if row is not None and row.installed is not None:
                self._show_note(f"{name} is installed: pick it in the model list.")
            else:
                self.download_selected()

    @property
    def busy(self) -> bool:
        return self.task is not None

    # --- commands (each runs on the dialog's thread) ----------------------------------------------

    def refresh(self) -> None:
        self._run(ManagerTask("list"), "Reading the model list…")

    def download_selected(self) -> None:
        row = self.selected_row()
        if row is not None and row.entry is not None:
            self._run(ManagerTask("download", row.name), f"Downloading {row.name}…")

    def import_path(self, path: str, config: str | None = None) -> None:
        options = {"config": config} if config else {}
        self._run(ManagerTask("import", path, options), f"Importing {Path(path).name}…")

    def ask_import_folder(self) -> None:
        """A model folder (ldm_studio.json or a diffusers repo)."""
        folder = QFileDialog.getExistingDirectory(self, "Import a model folder")
        if folder:
            self.import_path(folder)

    def ask_import_file(self) -> None:
        """A checkpoint file; an original .ckpt also needs its .yaml config."""
        path, _ = QFileDialog.getOpenFileName(self, "Import a checkpoint", "", CHECKPOINT_FILTER)
        if not path:
            return
        config = None
        if path.lower().endswith((".ckpt", ".pt", ".pth")):
            folder = str(Path(path).parent)
            config, _ = QFileDialog.getOpenFileName(self, "Its config (.yaml)", folder, "Configs (*.yaml *.yml)")
            if not config:
                self._show_error("An original checkpoint needs its .yaml config.")
                return
        self.import_path(path, config)

    def confirm_remove(self) -> None:
        row = self.selected_row()
        if row is None or row.installed is None:
            return
        if self.in_use() is not None and row.path is not None and Path(row.path) == self.in_use():
            self._show_error(f"{row.name} is the model loaded in the window: load another model before removing it.")
            return
        answer = QMessageBox.question(self, "Remove model", f"Remove {row.name}? Its files in the store are deleted.")
        if answer == QMessageBox.StandardButton.Yes:
            self.remove(row.name)

    def remove(self, name: str) -> None:
        self._run(ManagerTask("remove", name), f"Removing {name}…")

    def verify_selected(self) -> None:
        row = self.selected_row()
        if row is not None and row.installed is not None:
            self._run(ManagerTask("verify", row.name), f"Verifying {row.name}…")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel.set()
            self.progress_label.setText("Cancelling…")

    def _run(self, task: ManagerTask, text: str) -> None:
        if self.busy:
            self._show_error("Wait for the current task to finish, or cancel it.")
            return
        self.task = task
        self.last_progress = None
        self.bar.setRange(0, 0)
        if task.kind != "list":  # a refresh keeps the last task's outcome on show
            self.message.clear()
            self.progress_label.setText(text)
        self.cancel_button.setEnabled(task.kind in ("download", "import", "verify"))
        self._sync_buttons()
        self.worker_thread.submit(task)

    def _end_task(self) -> ManagerTask | None:
        task, self.task = self.task, None
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if task is not None and task.kind != "list" else 0)
        self.cancel_button.setEnabled(False)
        self._sync_buttons()
        return task

    def _show_error(self, text: str) -> None:
        self.last_error = text
        self.message.setStyleSheet("color: #c62828;")
        self.message.setText(text)

    def _show_note(self, text: str) -> None:
        self.message.setStyleSheet("")
        self.message.setText(text)

    def _sync_buttons(self) -> None:
        row = self.selected_row()
        idle = not self.busy
        self.download_button.setEnabled(idle and row is not None and row.entry is not None and row.installed is None)
        self.remove_button.setEnabled(idle and row is not None and row.installed is not None)
        self.verify_button.setEnabled(idle and row is not None and row.installed is not None)
        self.import_button.setEnabled(idle)
        self.refresh_button.setEnabled(idle)

    def _fill(self, rows: list[ModelRow]) -> None:
        selected = self.selected_row()
        self.rows = rows
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            published = row.entry.size_label if row.entry is not None else None
            size = format_bytes(row.size_bytes) if row.size_bytes else (published or "unknown")
            values = (row.title or row.name, row.state, row.family or "?", size, row.source or "", row.license or "")
            for j, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(str(row.path) if row.path else row.name)
                self.table.setItem(i, j, item)
        if selected is not None:
            self.select(selected.name)
        self._sync_buttons()

    # --- worker reports ------------------------------------------------------------------------

    @Slot(list)
    def _on_listed(self, rows: list) -> None:
        self._end_task()
        self.setWindowTitle(f"Models — {sum(r.installed is not None for r in rows)} installed, {len(rows)} listed")
        self._fill(rows)
        wanted, self._wanted = self._wanted, None
        if wanted is not None:
            self._take_entry(*wanted)

    @Slot(object)
    def _on_progress(self, progress: Progress) -> None:
        if self.task is None:
            return
        self.last_progress = progress
        if progress.fraction is not None:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(progress.fraction * 1000))
        else:
            self.bar.setRange(0, 0)
        self.progress_label.setText(progress.describe())

    @Slot(object, object)
    def _on_done(self, task: ManagerTask, result: object) -> None:
        self._end_task()
        if isinstance(result, InstalledModel):
            verb = "Imported" if task.kind == "import" else "Installed" if task.kind == "download" else "Removed"
            self._show_note(f"{verb} {result.name}" + ("" if task.kind == "remove" else f" in {result.path}"))
            self.progress_label.setText(f"{verb} {result.name}")
            self.models_changed.emit()
            if task.kind != "remove":
                self.model_installed.emit(result.path)
        elif isinstance(result, VerifyReport):
            if result.ok:
                self._show_note(f"{result.name}: {result.checked} file(s) verified, no problems")
            else:
                self._show_error(f"{result.name}: " + "; ".join(result.problems))
        self.refresh()

    @Slot(object, str)
    def _on_failed(self, task: ManagerTask, message: str) -> None:
        self._end_task()
        self.progress_label.setText(f"{task.kind.capitalize()} failed")
        self._show_error(message)
        if task.kind != "list":
            self.refresh()

    @Slot(object)
    def _on_cancelled(self, task: ManagerTask) -> None:
        self._end_task()
        self.progress_label.setText(f"{task.kind.capitalize()} cancelled")
        self._show_note(f"Cancelled: {task.name}. Nothing half-installed was kept; a download resumes next time.")
        self.refresh()

    # --- closing ------------------------------------------------------------------------------

    def shutdown(self) -> bool:
        """Cancel what runs and stop the dialog's thread."""
        return self.worker_thread.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        event.accept()

    def done(self, result: int) -> None:
        self.shutdown()
        super().done(result)
