"""The dialog an unexpected exception shows (via `app_log.install_excepthook`), so the app never fails silently."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget


class ErrorReporter:
    """`show(summary, log_path)` for the excepthook; one dialog at a time (an error in a loop shows once)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent
        self.showing = False
        self.last_text = ""
        self.count = 0

    def show(self, summary: str, log_file: Path | None) -> None:
        self.count += 1
        where = f"The details are in the log file:\n{log_file}" if log_file else "No log file could be written."
        self.last_text = f"LDM Studio hit an unexpected error:\n\n{summary}\n\n{where}"
        if self.showing:
            return
        self.showing = True
        try:
            box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error", self.last_text, parent=self.parent)
            box.setObjectName("unexpected_error")
            box.exec()
        finally:
            self.showing = False
