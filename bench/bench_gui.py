"""GUI responsiveness while the engine works: event-loop stalls, time to first preview, cancel latency.

Runs the real window offscreen on a slightly larger tiny text model (U-Net width 64), with a
throw-away LDM Studio home so nothing lands in the user's history. Times are also given as
ratios to one denoising step measured in the same run, since the machines are noisy.
"""

from __future__ import annotations

import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

SIZE = 128
STALL_STEPS = 40
HEARTBEAT_MS = 5


def run(smoke: bool = False, threads: int | None = None) -> dict[str, float]:
    """`smoke`: one short round of each part; `threads`: the engine's CPU threads (default: the window's)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    threads = threads or int(os.environ.get("LDM_BENCH_GUI_THREADS", "0")) or None
    with tempfile.TemporaryDirectory(prefix="ldm-bench-gui-") as tmp:
        old_home = os.environ.get("LDM_STUDIO_HOME")
        os.environ["LDM_STUDIO_HOME"] = str(Path(tmp) / "home")
        try:
            return _measure(Path(tmp), smoke, threads)
        finally:
            if old_home is None:
                os.environ.pop("LDM_STUDIO_HOME", None)
            else:
                os.environ["LDM_STUDIO_HOME"] = old_home


def _measure(tmp: Path, smoke: bool, threads: int | None) -> dict[str, float]:
    from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine
    from ldm_studio.core.generation.threads import plan_threads
    from ldm_studio.qt.controller import EngineController
    from ldm_studio.testing.tiny_models import write_text_model
    from ldm_studio.widgets.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    model = write_text_model(tmp / "tiny-text", width=32 if smoke else 64)

    def wait_for(signal, timeout_s: float = 120.0, accept=lambda *args: True) -> list:
        """Run the event loop until `signal` fires with arguments `accept` takes; those arguments."""
        loop, got = QEventLoop(), []

        def on(*args):
            if not got and accept(*args):
                got.extend(args)
                loop.quit()

        signal.connect(on)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        signal.disconnect(on)
        if not got:
            raise TimeoutError(f"no signal within {timeout_s} s")
        return got

    controller = EngineController(Engine(choose_device("cpu"), plan_threads(threads, gui=True)))
    # Opened on the bench's model: on a fresh profile the window would otherwise load the demo
    # model first, and only that model's `model_loaded` counts as ready.
    window = MainWindow(model=str(model), controller=controller)
    window.resize(1280, 800)
    window.show()
    if controller.model_info is None or Path(controller.model_info.path).resolve() != model.resolve():
        wait_for(controller.model_loaded, accept=lambda info: Path(info.path).resolve() == model.resolve())
    window.conditioning.text.prompt.setPlainText("a red cat")
    window.sampler.width_box.setValue(64 if smoke else SIZE)
    window.sampler.height_box.setValue(64 if smoke else SIZE)

    # A heartbeat that notes every gap between its ticks.
    beats: list[float] = []
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))

    def gaps_ms() -> list[float]:
        return [(b - a) * 1000 for a, b in itertools.pairwise(beats)]

    # Idle baseline.
    heartbeat.start()
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
    idle_gaps = gaps_ms()

    # A job, timing each step as the GUI receives its progress.
    steps_at: list[float] = []
    controller.progress.connect(lambda *a: steps_at.append(time.perf_counter()))
    window.sampler.steps.setValue(4 if smoke else STALL_STEPS)
    beats.clear()
    window.generate()
    wait_for(controller.finished)
    heartbeat.stop()
    job_gaps = gaps_ms()
    step_ms = statistics.median((b - a) * 1000 for a, b in itertools.pairwise(steps_at[1:]))

    # Generate → first preview painted on the canvas (warm model: a job has already run).
    class PaintWatch(QObject):
        armed = False
        painted_at = 0.0

        def eventFilter(self, obj, event):
            if self.armed and event.type() == QEvent.Type.Paint:
                self.painted_at = time.perf_counter()
                self.armed = False
            return False

    watch = PaintWatch()
    window.canvas.viewport().installEventFilter(watch)
    previews_shown: list[float] = []

    def on_preview(frame):
        if not previews_shown:
            previews_shown.append(time.perf_counter())
            watch.armed = True

    controller.preview.connect(on_preview)
    first_preview = []
    window.sampler.steps.setValue(4 if smoke else 20)
    for _ in range(1 if smoke else 5):
        previews_shown.clear()
        watch.painted_at = 0.0
        start = time.perf_counter()
        window.generate()
        wait_for(controller.finished)
        if watch.painted_at:
            first_preview.append((watch.painted_at - start) * 1000)
    controller.preview.disconnect(on_preview)

    # Cancel latency: cancel after a few steps, time until `cancelled` reaches the GUI.
    cancel_ms = []
    window.sampler.steps.setValue(400)
    for _ in range(1 if smoke else 5):
        steps_at.clear()
        window.generate()
        while len(steps_at) < 3:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        start = time.perf_counter()
        controller.cancel()
        wait_for(controller.cancelled)
        cancel_ms.append((time.perf_counter() - start) * 1000)

    # Closing the window mid-job: cancel, stop the engine thread, save settings.
    steps_at.clear()
    window.generate()
    while len(steps_at) < 3:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
    start = time.perf_counter()
    window.close()
    close_ms = (time.perf_counter() - start) * 1000

    first = statistics.median(first_preview) if first_preview else float("nan")
    cancel = statistics.median(cancel_ms)
    return {
        "threads": float(controller.engine.threads.count),
        "step_ms": step_ms,
        "idle_max_gap_ms": max(idle_gaps),
        "job_max_gap_ms": max(job_gaps),
        "job_p99_gap_ms": statistics.quantiles(job_gaps, n=100)[98],
        "first_preview_ms": first,
        "first_preview_over_step": first / step_ms,
        "first_preview_minus_step_ms": first - step_ms,
        "cancel_ms": cancel,
        "cancel_max_ms": max(cancel_ms),
        "cancel_over_step": cancel / step_ms,
        "close_during_job_ms": close_ms,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value:.4g}")
