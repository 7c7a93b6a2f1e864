"""EngineController on the real engine: order of events, files before `finished`, cancel, errors, OOM."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from qt_helpers import JOB_TIMEOUT_MS, text_request

from ldm_studio.core.files.store import history_dir


class Recorder:
    """Collects every controller signal in arrival order."""

    def __init__(self, controller) -> None:
        self.events: list[tuple] = []
        self.controller = controller
        for name in ("queued", "started", "finished", "failed", "cancelled"):
            getattr(controller, name).connect(lambda *args, n=name: self.events.append((n, *args)))
        controller.progress.connect(lambda p: self.events.append(("progress", p.job, p.done, p.total, p.eta)))
        controller.preview.connect(self._on_preview)

    def _on_preview(self, frame) -> None:
        self.events.append(("preview", frame.job, frame.step, frame.image.width(), frame))

    def of(self, kind: str, job: int | None = None) -> list[tuple]:
        return [e for e in self.events if e[0] == kind and (job is None or e[1] == job)]

    def terminal(self, job: int) -> list[str]:
        return [e[0] for e in self.events if e[0] in ("finished", "failed", "cancelled") and e[1] == job]


def test_job_streams_previews_in_order_and_saves_before_finished(qtbot, loaded_controller):
    ctl = loaded_controller
    rec = Recorder(ctl)
    seen_on_disk = []
    ctl.finished.connect(lambda job, files: seen_on_disk.extend(Path(f).is_file() for f in files))

    with qtbot.waitSignal(ctl.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        job = ctl.submit(text_request(steps=8, batch=2))
    files = blocker.args[1]

    assert len(files) == 2 and all(seen_on_disk) and len(seen_on_disk) == 2
    assert all(Path(f).parent == history_dir() for f in files)
    previews = rec.of("preview", job)
    steps = [p[2] for p in previews]
    assert len(previews) >= 2
    assert steps == sorted(steps) and len(set(steps)) == len(steps), steps
    assert steps[-1] == 8 and previews[-1][3] == 2 * 64  # the full decode, a 2-image grid
    final = previews[-1][4]  # the layout travels with the picture: nobody re-tiles from a copy of the request
    assert final.final and final.count == 2 and final.layout == (1, 2) and final.cell == (64, 64)
    assert final.size == (128, 64) and final.total == 8
    assert all(p[4].count == 2 and p[4].size == (128, 64) and not p[4].final for p in previews[:-1])
    kinds = [e[0] for e in rec.events if e[1] == job]
    assert kinds[0] == "queued" and kinds[1] == "started" and kinds[-1] == "finished"
    assert kinds.index("preview") > kinds.index("started")
    progress = [e[2] for e in rec.of("progress", job)]
    assert progress == list(range(1, 9))


def test_cancel_mid_job_stops_within_a_step_and_writes_nothing(qtbot, loaded_controller):
    ctl = loaded_controller
    rec = Recorder(ctl)
    job = ctl.submit(text_request(steps=400))
    qtbot.waitUntil(lambda: len(rec.of("progress", job)) >= 3, timeout=JOB_TIMEOUT_MS)
    with qtbot.waitSignal(ctl.cancelled, timeout=5000):
        assert ctl.cancel(job)
    assert rec.terminal(job) == ["cancelled"]
    assert not list(history_dir().glob("*.png"))
    last_preview_count = len(rec.of("preview", job))
    qtbot.wait(50)
    assert len(rec.of("preview", job)) == last_preview_count  # nothing stale after cancel
    with qtbot.waitSignal(ctl.finished, timeout=JOB_TIMEOUT_MS):
        ctl.submit(text_request())


def test_queue_runs_in_order_and_a_queued_job_cancels_at_once(qtbot, loaded_controller):
    ctl = loaded_controller
    rec = Recorder(ctl)
    first = ctl.submit(text_request(steps=6))
    second = ctl.submit(text_request(steps=2))
    third = ctl.submit(text_request(steps=2))
    assert ctl.queued_jobs == [second, third]
    assert ctl.cancel(second)
    assert rec.terminal(second) == ["cancelled"]  # synchronous: it never reached the engine
    with qtbot.waitSignal(ctl.idle, timeout=JOB_TIMEOUT_MS):
        pass
    assert [e[1] for e in rec.of("started")] == [first, third]
    assert rec.terminal(first) == ["finished"] and rec.terminal(third) == ["finished"]
    assert not ctl.cancel(second) and not ctl.cancel(999)


def test_rejected_request_and_injected_exception_fail_and_the_next_job_runs(qtbot, loaded_controller, monkeypatch):
    ctl = loaded_controller
    with qtbot.waitSignal(ctl.failed, timeout=JOB_TIMEOUT_MS) as blocker:
        ctl.submit(text_request(size=60))
    assert "width" in blocker.args[1] and "multiple" in blocker.args[1]

    real = ctl.engine.generate
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("injected failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(ctl.engine, "generate", flaky)
    with qtbot.waitSignal(ctl.failed, timeout=JOB_TIMEOUT_MS) as blocker:
        ctl.submit(text_request())
    assert "injected failure" in blocker.args[1]
    with qtbot.waitSignal(ctl.finished, timeout=JOB_TIMEOUT_MS):
        ctl.submit(text_request())


def test_out_of_memory_retries_one_image_at_a_time_then_explains(qtbot, loaded_controller, monkeypatch):
    ctl = loaded_controller
    real = ctl.engine.generate
    batches = []

    def small_gpu(request, **kwargs):
        batches.append(request.settings.batch_size)
        if request.settings.batch_size > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(request, **kwargs)

    monkeypatch.setattr(ctl.engine, "generate", small_gpu)
    with qtbot.waitSignal(ctl.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        ctl.submit(text_request(batch=3, seed=10))
    assert batches == [3, 1, 1, 1]
    assert [Path(f).stem.rsplit("-", 1)[1] for f in blocker.args[1]] == ["10", "11", "12"]

    def no_gpu(request, **kwargs):
        raise RuntimeError("CUDA out of memory.")

    monkeypatch.setattr(ctl.engine, "generate", no_gpu)
    with qtbot.waitSignal(ctl.failed, timeout=JOB_TIMEOUT_MS) as blocker:
        ctl.submit(text_request(batch=2))
    assert "Out of memory" in blocker.args[1] and "one image at a time" in blocker.args[1]


def test_job_before_any_model_fails_with_advice(qtbot, controller):
    with qtbot.waitSignal(controller.failed, timeout=JOB_TIMEOUT_MS) as blocker:
        controller.submit(text_request())
    assert "open a model" in blocker.args[1].lower()


def test_bad_model_folder_reports_model_failed(qtbot, controller, tmp_path):
    with qtbot.waitSignal(controller.model_failed, timeout=JOB_TIMEOUT_MS) as blocker:
        controller.load_model(tmp_path)
    assert str(tmp_path) in blocker.args[0]


def test_shutdown_during_a_job_is_quick(qtbot, loaded_controller):
    ctl = loaded_controller
    rec = Recorder(ctl)
    job = ctl.submit(text_request(steps=500))
    ctl.submit(text_request())
    qtbot.waitUntil(lambda: bool(rec.of("progress", job)), timeout=JOB_TIMEOUT_MS)
    start = time.perf_counter()
    assert ctl.shutdown()
    assert time.perf_counter() - start < 2.0
    assert not ctl.is_running
    with pytest.raises(RuntimeError):
        ctl.submit(text_request())


@pytest.mark.parametrize("round_", range(2))
def test_stress_hundreds_of_submit_cancel_cycles(qtbot, loaded_controller, round_):
    """The engine thread under churn (PYSIDE-3124): every job ends exactly once, no warning."""
    import random

    ctl = loaded_controller
    rec = Recorder(ctl)
    rng = random.Random(round_)
    jobs = []
    for i in range(300):
        job = ctl.submit(text_request(steps=rng.choice([1, 2, 3]), seed=i))
        jobs.append(job)
        if i % 3 == 0:  # wait until the engine thread has it, then cancel it mid-run (or not)
            qtbot.waitUntil(lambda job=job: job in [e[1] for e in rec.of("started")], timeout=JOB_TIMEOUT_MS)
        elif i % 3 == 1:
            qtbot.wait(rng.choice([0, 1, 2]))
        action = rng.random()
        if action < 0.4:
            ctl.cancel(job)
        elif action < 0.6:
            ctl.cancel()
    with qtbot.waitSignal(ctl.idle, timeout=60_000):
        ctl.cancel_all()
    for job in jobs:
        assert len(rec.terminal(job)) == 1, (job, rec.terminal(job))
    started = len(rec.of("started"))
    assert started >= 100, started  # at least every third job really ran on the engine thread
    assert rec.of("finished") and rec.of("cancelled")
    assert ctl.is_running
    with qtbot.waitSignal(ctl.finished, timeout=JOB_TIMEOUT_MS):
        ctl.submit(text_request())


def test_progress_counts_the_samplers_real_steps(qtbot, loaded_controller):
    """Heun evaluates twice per step: progress must reach its real total, never pass it."""
    from dataclasses import replace

    ctl = loaded_controller
    rec = Recorder(ctl)
    request = text_request(steps=4)
    request = replace(request, settings=replace(request.settings, sampler="heun"))
    with qtbot.waitSignal(ctl.finished, timeout=JOB_TIMEOUT_MS):
        job = ctl.submit(request)
    progress = [(e[2], e[3]) for e in rec.of("progress", job)]
    assert progress[-1] == (7, 7) and all(done <= total for done, total in progress)
    final = rec.of("preview", job)[-1][4]
    assert final.final and final.step == final.total == 7  # the real count, not the 4 asked for


def test_full_decode_on_demand_mid_job(qtbot, loaded_controller):
    """Linear previews are latent-sized; asking for a decode gives the full picture at the next step."""
    ctl = loaded_controller
    ctl.set_preview_mode("linear")  # the default (approximate decoder or smooth projection) is full size
    rec = Recorder(ctl)
    asked = []

    def ask_once(progress):
        if progress.done == 2 and not asked:
            asked.append(ctl.request_full_preview())

    ctl.progress.connect(ask_once)
    with qtbot.waitSignal(ctl.finished, timeout=JOB_TIMEOUT_MS):
        job = ctl.submit(text_request(steps=30))
    assert asked == [True]
    widths = [p[3] for p in rec.of("preview", job)]
    assert 8 in widths  # cheap projections: 64 px / factor 8
    mid_job_full = [p for p in rec.of("preview", job) if p[3] == 64 and p[2] < 30]
    assert mid_job_full, widths
    assert not ctl.request_full_preview()  # nothing running now
