"""Start the Qt application and show the main window (or run the window's smoke test)."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

DESKTOP_FILE_NAME = "io.github.ldm_studio.LDMStudio"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ldm-studio gui", description="Open the LDM Studio window.")
    parser.add_argument("--model", help="model folder to open")
    parser.add_argument(
        "--smoke-test", action="store_true", help="make one image with the default model, then exit (0 = it worked)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="smoke test time limit in seconds (300)")
    args, _qt_args = parser.parse_known_args(list(argv))
    return args


def run_app(argv: Sequence[str]) -> int:
    """Open the window (optionally on `--model DIR`) and run the event loop until it closes."""
    args = parse_args(argv)
    app = QApplication.instance()
    if app is None:
        from ldm_studio.platform_check import platform_problem

        problem = platform_problem()
        if problem:  # Qt would abort the process (exit 134) with a less helpful message
            print(problem, file=sys.stderr)
            return 1
        app = QApplication([sys.argv[0], *argv])
    set_identity(app)

    from ldm_studio.app_log import install_excepthook, setup_logging
    from ldm_studio.quiet import quiet_libraries
    from ldm_studio.widgets.error_dialog import ErrorReporter
    from ldm_studio.widgets.main_window import MainWindow
    from ldm_studio.widgets.settings_store import SettingsStore

    setup_logging()
    quiet_libraries()
    settings = None
    if args.smoke_test:  # never touch the person's settings; the demo model is the default
        settings = SettingsStore(Path(tempfile.mkdtemp(prefix="ldm-studio-smoke-")) / "settings.json")
    window = MainWindow(model=args.model, settings=settings)
    install_excepthook(show=ErrorReporter(window).show)
    app.aboutToQuit.connect(window.controller.shutdown)  # quitting without closing the window
    close_on_interrupt(window)
    if args.smoke_test:
        from ldm_studio.widgets.smoke_test import SmokeTest

        window.smoke_test = SmokeTest(window, args.timeout, quit=app.exit)
    window.show()
    return app.exec()


def set_identity(app: QApplication) -> None:
    """Names the desktop uses: settings paths, the taskbar, and the .desktop file that Wayland matches."""
    from ldm_studio.widgets.icons import app_icon

    app.setApplicationName("LDM Studio")
    app.setApplicationDisplayName("LDM Studio")
    app.setOrganizationName("ldm-studio")
    app.setOrganizationDomain("ldm_studio.github.io")
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    app.setWindowIcon(app_icon())


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
