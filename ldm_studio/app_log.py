"""The log file: every run appends to `<log dir>/ldm-studio.log` (rotated), so a crash can be reported.

`setup_logging()` is called once by the entry points; uncaught exceptions are logged with
their traceback before anything else handles them (the window then shows the log's path).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ldm_studio.core.files.store import user_log_dir

LOG_NAME = "ldm-studio.log"
_handler: logging.Handler | None = None


def log_path() -> Path:
    return user_log_dir() / LOG_NAME


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Log to the rotating file (idempotent); returns its path, or None if it cannot be written."""
    global _handler
    path = log_path()
    if _handler is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        except OSError:
            return None
        _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(_handler)
        root.setLevel(min(root.level or level, level))
    return path


def install_excepthook(show: Callable[[str, Path | None], None] | None = None) -> None:
    """Log uncaught exceptions; `show(summary, log_path)` then tells the person (the window's dialog)."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        logging.getLogger("ldm_studio").critical("unexpected error", exc_info=(kind, value, tb))
        if show is not None and not issubclass(kind, KeyboardInterrupt):
            show(f"{kind.__name__}: {value}", log_path() if _handler is not None else None)
        else:
            sys.__excepthook__(kind, value, tb)

    sys.excepthook = hook
