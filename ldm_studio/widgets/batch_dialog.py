"""Run ▸ Batch…: run a batch spec (or a sweep built here) into a folder, on the engine thread.

The dialog only submits a batch job to the `EngineController` and shows its reports; sampling
happens in the app's one engine thread, so the loaded model is never used from two threads.
Running again on the same folder resumes (the core's manifest says what is done).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ldm_studio.core.batch import BatchProgress, BatchReport
from ldm_studio.core.files.store import history_dir
from ldm_studio.qt.controller import EngineController
from ldm_studio.widgets.progress_panel import format_eta

SWEEP_FILE = "sweep.json"


def parse_numbers(text: str, kind: type) -> list:
    """ "1, 2 3" → [1, 2, 3]; ValueError naming the bad item."""
    items = [part for part in text.replace(",", " ").split() if part]
    try:
        return [kind(item) for item in items]
    except ValueError:
        raise ValueError(f"{text!r}: not a list of {'integers' if kind is int else 'numbers'}") from None


def gpu_count() -> int:
    """CUDA GPUs here (the workers spin box allows one per GPU); torch is already loaded by the window."""
    import torch

    return torch.cuda.device_count()


def write_sweep_spec(
    folder: Path, prompts: list[str], seeds: list[int], guidance: list[float], steps: int | None = None
) -> Path:
    """The sweep as a spec file in the output folder; the same fields give the same file, so a rerun resumes."""
    axes: dict[str, list] = {}
    if prompts:
        axes["prompt"] = prompts
    if seeds:
        axes["seed"] = seeds
    if guidance:
        axes["guidance"] = guidance
    if not axes:
        raise ValueError("give at least one prompt, seed or guidance value to sweep over")
    spec: dict = {"sweep": axes}
    if steps:
        spec["defaults"] = {"steps": steps}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SWEEP_FILE
    path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return path


def default_batch_folder() -> Path:
    """`<history>/batches/<date-time>`: a new folder per dialog, where the history already lives."""
    return history_dir() / "batches" / time.strftime("%Y%m%d-%H%M%S")


class BatchDialog(QDialog):
    """Spec file or sweep, output folder, Start/Cancel, and the running batch's progress."""

    images_written = Signal(list)  # str paths of a finished (or cancelled) batch's new images, for History

    def __init__(self, controller: EngineController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch")
        self.setObjectName("batch_dialog")
        self.controller = controller
        self.job: int | None = None
        self.report: BatchReport | None = None
        self.bad_rows: list[str] = []

        self.spec_edit = QLineEdit(placeholderText="prompts.csv, rows.jsonl or spec.json")
        spec_browse = QPushButton("Browse…")
        spec_browse.clicked.connect(self._ask_spec)
        spec_row = QHBoxLayout()
        spec_row.addWidget(self.spec_edit, 1)
        spec_row.addWidget(spec_browse)
        spec_page = QWidget()
        spec_form = QFormLayout(spec_page)
        spec_form.addRow("Spec file", spec_row)
        spec_form.addRow(QLabel("Rows use the generate options: prompt, negative, class, map, seed, steps, …"))

        self.prompts_edit = QPlainTextEdit(placeholderText="One prompt per line")
        self.prompts_edit.setMaximumHeight(80)
        self.seeds_edit = QLineEdit(placeholderText="e.g. 1, 2, 3")
        self.guidance_edit = QLineEdit(placeholderText="e.g. 3, 5, 8 (empty: the model's default)")
        self.steps_box = QSpinBox()
        self.steps_box.setRange(0, 500)
        self.steps_box.setSpecialValueText("model default")
        sweep_page = QWidget()
        sweep_form = QFormLayout(sweep_page)
        sweep_form.addRow("Prompts", self.prompts_edit)
        sweep_form.addRow("Seeds", self.seeds_edit)
        sweep_form.addRow("Guidance", self.guidance_edit)
        sweep_form.addRow("Steps", self.steps_box)

        self.source_tabs = QTabWidget()
        self.source_tabs.addTab(spec_page, "Spec file")
        self.source_tabs.addTab(sweep_page, "Sweep")

        self.out_edit = QLineEdit(placeholderText="Output folder (run again on it to resume)")
        self.out_edit.setText(str(default_batch_folder()))  # a fresh folder beside the history
        out_browse = QPushButton("Browse…")
        out_browse.clicked.connect(self._ask_folder)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Output"))
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(out_browse)
        self.workers_box = QSpinBox()
        self.workers_box.setRange(1, max(1, os.cpu_count() or 1, gpu_count()))
        self.workers_box.setToolTip(
            "Engine processes: one per GPU on a machine with several; on a CPU they share the cores"
        )
        out_row.addWidget(QLabel("Workers"))
        out_row.addWidget(self.workers_box)

        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.status = QLabel("Not started")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems = QPlainTextEdit()
        self.problems.setReadOnly(True)
        self.problems.setPlaceholderText("Bad rows and failures appear here")
        self.problems.setMaximumHeight(90)

        buttons = QDialogButtonBox()
        self.start_button = buttons.addButton("Start", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button = buttons.addButton("Cancel batch", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button = buttons.addButton("Open folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.setToolTip("Show the output folder (images, manifest, contact sheet) in the file manager")
        self.sheet_button = buttons.addButton("Contact sheet", QDialogButtonBox.ButtonRole.ActionRole)
        self.sheet_button.setToolTip("Open the sweep's labelled contact sheet")
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.cancel_button.setEnabled(False)
        self.open_button.setEnabled(False)
        self.sheet_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_folder)
        self.sheet_button.clicked.connect(self.open_contact_sheet)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.source_tabs)
        layout.addLayout(out_row)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.problems)
        layout.addWidget(buttons)
        self.resize(560, 460)

        c = controller
        c.started.connect(self._on_started)
        c.batch_planned.connect(self._on_planned)
        c.batch_progress.connect(self._on_progress)
        c.batch_finished.connect(self._on_finished)
        c.failed.connect(self._on_failed)
        c.cancelled.connect(self._on_cancelled)

    # --- commands ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self) -> int | None:
        """Submit the batch; returns its job id, or None with the reason shown."""
        if self.running:
            return None
        out = self.out_edit.text().strip()
        if not out:
            return self._refuse("Choose an output folder.")
        if self.controller.model_info is None:
            return self._refuse("Open a model first: a batch runs on the loaded model.")
        folder = Path(out).expanduser()
        try:
            spec = self._spec_path(folder)
        except (ValueError, OSError) as exc:
            return self._refuse(str(exc))
        self.report, self.bad_rows = None, []
        self.problems.clear()
        self.job = self.controller.submit_batch(spec, folder, workers=self.workers_box.value())
        self.bar.setRange(0, 0)
        waiting = self.controller.current_job != self.job
        self.status.setText(f"Queued behind job {self.controller.current_job}" if waiting else "Starting…")
        self._sync_buttons()
        return self.job

    def open_folder(self) -> bool:
        folder = Path(self.out_edit.text().strip()).expanduser()
        return folder.is_dir() and QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def open_contact_sheet(self) -> bool:
        sheet = self.report.contact_sheet if self.report is not None else None
        return sheet is not None and Path(sheet).is_file() and QDesktopServices.openUrl(QUrl.fromLocalFile(str(sheet)))

    def cancel(self) -> None:
        if self.job is not None:
            self.controller.cancel(self.job)
            self.status.setText("Cancelling…")

    def _spec_path(self, folder: Path) -> Path:
        if self.source_tabs.currentIndex() == 0:
            text = self.spec_edit.text().strip()
            if not text:
                raise ValueError("Choose a spec file, or build a sweep on the Sweep tab.")
            return Path(text).expanduser()
        prompts = [line.strip() for line in self.prompts_edit.toPlainText().splitlines() if line.strip()]
        seeds = parse_numbers(self.seeds_edit.text(), int)
        guidance = parse_numbers(self.guidance_edit.text(), float)
        return write_sweep_spec(folder, prompts, seeds, guidance, self.steps_box.value() or None)

    def _refuse(self, message: str) -> None:
        self.status.setText(message)
        return None

    def _ask_spec(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Batch spec", "", "Batch specs (*.json *.jsonl *.csv)")
        if path:
            self.spec_edit.setText(path)
            self.source_tabs.setCurrentIndex(0)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Batch output folder", self.out_edit.text())
        if folder:
            self.out_edit.setText(folder)

    def _sync_buttons(self) -> None:
        self.start_button.setEnabled(not self.running)
        self.cancel_button.setEnabled(self.running)

    def _end(self, text: str) -> None:
        self.job = None
        self.bar.setRange(0, max(self.bar.maximum(), 1))
        self.status.setText(text)
        self._sync_buttons()

    # --- controller reports --------------------------------------------------------------------

    @Slot(int)
    def _on_started(self, job: int) -> None:
        if job == self.job:
            self.status.setText("Planning…")

    @Slot(int, int, list)
    def _on_planned(self, job: int, total: int, bad_rows: list) -> None:
        if job != self.job:
            return
        self.bad_rows = list(bad_rows)
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(0)
        self.status.setText(f"{total} image(s) planned" + (f", {len(bad_rows)} bad row(s)" if bad_rows else ""))
        if bad_rows:
            self.problems.setPlainText("\n".join(bad_rows))

    @Slot(int, object)
    def _on_progress(self, job: int, progress: BatchProgress) -> None:
        if job != self.job:
            return
        self.bar.setRange(0, max(progress.total, 1))
        self.bar.setValue(progress.done)
        parts = [f"{progress.done}/{progress.total} images"]
        if progress.images_per_second:
            parts.append(f"{progress.images_per_second:.2f} images/s")
        if progress.eta_seconds is not None:
            parts.append(f"ETA {format_eta(progress.eta_seconds)}")
        if len(progress.workers) > 1:
            parts.append(" | ".join(progress.workers))
        self.status.setText("  ·  ".join(parts))

    @Slot(int, object)
    def _on_finished(self, job: int, report: BatchReport) -> None:
        if job != self.job:
            return
        self.report = report
        if report.written:
            self.images_written.emit([str(p) for p in report.written])
        self.open_button.setEnabled(True)
        self.sheet_button.setEnabled(report.contact_sheet is not None)
        done = report.already_done + len(report.written)
        self.bar.setRange(0, max(report.total, 1))
        self.bar.setValue(done)
        lines = [*map(str, report.bad_rows), *report.failed]
        if lines:
            self.problems.setPlainText("\n".join(lines))
        resumed = f" ({report.already_done} already done)" if report.already_done else ""
        if report.cancelled:
            text = f"Cancelled: {done}/{report.total} images done{resumed}. Start again on this folder to resume."
        else:
            text = f"Finished: {done}/{report.total} images{resumed}"
            if report.bad_rows or report.failed:
                text += f"; {len(report.bad_rows) + len(report.failed)} row(s) failed"
            if report.contact_sheet:
                text += f"; contact sheet {report.contact_sheet.name}"
        self._end(text)

    @Slot(int, str)
    def _on_failed(self, job: int, message: str) -> None:
        if job == self.job:
            self._end(f"The batch failed: {message}")

    @Slot(int)
    def _on_cancelled(self, job: int) -> None:
        if job == self.job:
            self._end("Cancelled before it started.")
