"""Start the Qt application and show the main window."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ldm-studio gui", description="Open the LDM Studio window.")
    parser.add_argument("--model", help="model folder to open")
    args, _qt_args = parser.parse_known_args(list(argv))
    return args


def run_app(argv: Sequence[str]) -> int:
    """Open the window (optionally on `--model DIR`) and run the event loop until it closes."""
    args = parse_args(argv)
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("LDM Studio")
    app.setApplicationDisplayName("LDM Studio")
    app.setOrganizationName("ldm-studio")

    from ldm_studio.cli import quiet_libraries
    from ldm_studio.widgets.main_window import MainWindow

    quiet_libraries()
    window = MainWindow(model=args.model)
    app.aboutToQuit.connect(window.controller.shutdown)  # quitting without closing the window
    close_on_interrupt(window)
    window.show()
    return app.exec()


def close_on_interrupt(window: QMainWindow) -> QTimer:
    """Ctrl+C in the terminal closes the window (saving settings, stopping the engine).

    Python only runs signal handlers between bytecodes, never while Qt's C++ loop waits, so a
    do-nothing timer hands control back to the interpreter a few times a second.
    """
    signal.signal(signal.SIGINT, lambda *_: window.close())
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)
    return timer
