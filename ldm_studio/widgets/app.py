"""Start the Qt application and show the main window."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow


def run_app(argv: Sequence[str]) -> int:
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    window = QMainWindow()
    window.setWindowTitle("LDM Studio")
    label = QLabel("LDM Studio: the window arrives with the desktop-app issue. Use `ldm-studio generate` meanwhile.")
    label.setMargin(24)
    window.setCentralWidget(label)
    window.show()
    return app.exec()
