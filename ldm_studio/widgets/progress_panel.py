"""The status bar's job display: progress bar, step count, it/s, ETA and a cancel button."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressPanel(QWidget):
    """Shows a running job; the ETA covers sampling only (not queue wait or model load)."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(200)
        self.bar.setTextVisible(False)
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.cancel = QToolButton()
        self.cancel.setText("Cancel")
        self.cancel.setToolTip("Cancel the running job and the queue (Esc)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        for widget in (self.label, self.bar, self.cancel):
            layout.addWidget(widget)
        self.cancel.clicked.connect(self.cancel_requested)
        self.set_idle()

    def set_idle(self) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.label.setText("Idle")
        self.cancel.setEnabled(False)

    def set_busy(self, text: str) -> None:
        """An indeterminate wait (model load, queued job)."""
        self.bar.setRange(0, 0)
        self.label.setText(text)
        self.cancel.setEnabled(True)

    def set_progress(self, done: int, total: int, steps_per_second: float, eta: float) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        parts = [f"Step {done}/{total}"]
        if steps_per_second:
            parts.append(f"{steps_per_second:.1f} it/s")
        parts.append(f"ETA {format_eta(eta)}")
        self.label.setText("  ·  ".join(parts))
        self.cancel.setEnabled(True)
