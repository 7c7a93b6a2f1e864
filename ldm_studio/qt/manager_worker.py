"""The Models dialog's background side: one `ManagerWorker` in one QThread for the dialog's life.

Downloads and imports are not sampling, so they run beside the engine thread rather than
on it. The same rules hold as for the engine: tasks enter by queued signals to slots, a
`threading.Event` cancels, and reports are signals to the dialog's `@Slot`s. The manager's
progress callback may run in huggingface_hub's own threads: it only emits a signal (queued).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QDeadlineTimer, QObject, Qt, QThread, Signal, Slot

from ldm_studio.core.errors import DownloadCancelled, LdmStudioError
from ldm_studio.core.models import manager

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ManagerTask:
    """One model-manager call: `kind` is list, download, import, remove or verify."""

    kind: str
    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)


class ManagerWorker(QObject):
    """Runs manager calls one at a time in the dialog's thread."""

    listed = Signal(list)  # ModelRow list
    progress = Signal(object)  # manager.Progress (may be emitted from a download thread)
    done = Signal(object, object)  # task, result (InstalledModel, VerifyReport, …)
    failed = Signal(object, str)  # task, message for a person
    cancelled = Signal(object)  # task

    @Slot(object)
    def run_task(self, task: ManagerTask) -> None:
        if task.cancel.is_set():
            self.cancelled.emit(task)
            return
        try:
            result = self._call(task)
        except DownloadCancelled:
            self.cancelled.emit(task)
            return
        except LdmStudioError as exc:
            self.failed.emit(task, str(exc))
            return
        except Exception as exc:  # a bug or an odd file system error: say it, keep the app alive
            log.exception("model manager task %s %s failed", task.kind, task.name)
            self.failed.emit(task, f"{type(exc).__name__}: {exc}")
            return
        if task.kind == "list":
            self.listed.emit(result)
        else:
            self.done.emit(task, result)

    def _call(self, task: ManagerTask) -> Any:
        report = self.progress.emit
        if task.kind == "list":
            return manager.list_models()
        if task.kind == "download":
            return manager.download(task.name, progress=report, cancel=task.cancel)
        if task.kind == "import":
            return manager.import_model(task.name, progress=report, cancel=task.cancel, **task.options)
        if task.kind == "remove":
            return manager.remove(task.name)
        if task.kind == "verify":
            return manager.verify(task.name, progress=report, cancel=task.cancel)
        raise ValueError(f"unknown task {task.kind!r}")


class ManagerThread(QObject):
    """Owns the thread and the worker; `submit` queues a task, `stop` cancels and joins."""

    _send = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.current: ManagerTask | None = None
        self._thread = QThread(self)
        self._thread.setObjectName("ldm-models")
        self.worker = ManagerWorker()
        self.worker.moveToThread(self._thread)
        self._thread.finished.connect(self.worker.deleteLater)
        self._send.connect(self.worker.run_task)
        self._thread.start()

    def submit(self, task: ManagerTask) -> ManagerTask:
        self.current = task
        self._send.emit(task)
        return task

    def connect_reports(self, listed, progress, done, failed, cancelled) -> None:
        """Connect the worker's reports to the caller's slots, queued (the progress one comes from any thread)."""
        queued = Qt.ConnectionType.QueuedConnection
        self.worker.listed.connect(listed, queued)
        self.worker.progress.connect(progress, queued)
        self.worker.done.connect(done, queued)
        self.worker.failed.connect(failed, queued)
        self.worker.cancelled.connect(cancelled, queued)

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Cancel the running task, quit the thread and wait for it."""
        if self.current is not None:
            self.current.cancel.set()
        self._thread.quit()
        return self._thread.wait(QDeadlineTimer(int(timeout_s * 1000)))

    @property
    def is_running(self) -> bool:
        return self._thread.isRunning()
