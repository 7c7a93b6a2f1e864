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
        self.label.setToolTip("")
        self.cancel.setEnabled(False)

    def set_busy(self, text: str) -> None:
        """An indeterminate wait (model load, queued job)."""
        self.bar.setRange(0, 0)
        self.label.setText(text)
        self.cancel.setEnabled(True)

    def set_progress(
        self, done: int, total: int, steps_per_second: float, eta: float, requested: int | None = None
    ) -> None:
        """`requested`: the steps asked for; a sampler may run a different count, and the label says why."""
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        step = f"Step {done}/{total}"
        if requested is not None and requested != total:
            step += f" ({requested} asked)"
            self.label.setToolTip(
                f"{requested} steps asked, {total} run: the sampler's schedule decides the count. The original "
                f"DDIM code takes one of every {max(1000 // requested, 1)} of the 1000 training steps, which gives "
                f"{total} here; images match that code."
            )
        else:
            self.label.setToolTip("")
        parts = [step]
        if steps_per_second:
            parts.append(f"{steps_per_second:.1f} it/s")
        parts.append(f"ETA {format_eta(eta)}")
        self.label.setText("  ·  ".join(parts))
        self.cancel.setEnabled(True)
