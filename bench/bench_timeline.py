"""The denoising timeline (issue 17): what keeping every step costs, showing a kept step, the budget.

- keep_overhead_ratio: sampling with every step kept (latents, x0, sampler and generator state,
  thumbnail) / the same sampling without (both with the cheap preview the window always renders);
  128×128, 20 steps, guidance 5, interleaved rounds; goal ≤ 1.02. record_seconds_over_sampling:
  the time spent in `Trajectory.record` itself over the plain run (robust to a noisy machine).
- show_step_ms: a kept step's thumbnail to the canvas (QImage + pixmap swap + repaint), median,
  95th percentile and max over three scrubs through 50 steps after a warm-up one; goal ≤ 16 ms.
- demo model: 20 jobs of 50 steps through the store at the default budget (512 MB) and at a small
  one (three jobs' worth, thumbnails of all jobs included): peak bytes against the budget.
"""

from __future__ import annotations

import os
import statistics
import time

from common import bench_engine, interleaved

from ldm_studio.core.generation.previews import PreviewPolicy, linear_preview_for
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.trajectory import MB, Trajectory, TrajectoryStore

STEPS = 20
SIZE = 128


def run(smoke: bool = False) -> dict[str, object]:
    """`smoke`: one short round (CI checks that the benchmark runs; its figures mean nothing)."""
    steps, size = (2, 64) if smoke else (STEPS, SIZE)
    figures: dict[str, object] = {}
    engine = bench_engine()
    linear_preview_for(engine.model)
    for sampler in ("ddim", "dpmpp_2m"):
        request = GenerationRequest(
            TextCondition("a red cat on a beach"),
            SamplerSettings(sampler=sampler, steps=steps, guidance=5.0, width=size, height=size, seed=1),
        )

        recording: list[float] = []

        def keep(request=request, recording=recording):
            trajectory = Trajectory(0, request)
            spent = 0.0

            def on_step(event):
                nonlocal spent
                start = time.perf_counter()
                trajectory.record(event)
                spent += time.perf_counter() - start

            engine.generate(request, preview=PreviewPolicy("cheap"), on_step=on_step)
            recording.append(spent)

        def plain(request=request):
            engine.generate(request, preview=PreviewPolicy("cheap"))

        times = interleaved({"keep": keep, "plain": plain}, rounds=9)
        # the ratio of two noisy wall times, and the time spent in `record` itself over the plain run
        figures[f"keep_overhead_ratio_{sampler}"] = times["keep"] / times["plain"]
        figures[f"record_seconds_over_sampling_{sampler}"] = statistics.median(recording) / times["plain"]
    figures.update(_show_step())
    figures.update(_budget(smoke))
    return figures


def _show_step() -> dict[str, object]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from ldm_studio.qt.images import grid_qimage
    from ldm_studio.widgets.canvas import ImageCanvas

    app = QApplication.instance() or QApplication([])
    engine = bench_engine()
    request = GenerationRequest(TextCondition("a red cat"), SamplerSettings(steps=50, width=256, height=256, seed=2))
    trajectory = Trajectory(0, request)
    engine.generate(request, preview=PreviewPolicy("cheap"), on_step=trajectory.record)
    canvas = ImageCanvas()
    canvas.resize(900, 600)
    canvas.show()
    times = []
    for _ in range(4):
        for step in range(len(trajectory)):
            start = time.perf_counter()
            canvas.show_image(grid_qimage(trajectory.thumbnail(step)), (256, 256), 1)
            canvas.viewport().repaint()  # the paint a person would wait for, done now
            times.append((time.perf_counter() - start) * 1000)
            app.processEvents()
    times = sorted(times[len(trajectory) :])  # the first pass warms Qt's paint paths up
    return {
        "show_step_ms_median": statistics.median(times),
        "show_step_ms_p95": times[int(0.95 * (len(times) - 1))],
        "show_step_ms_max": times[-1],
    }


def _budget(smoke: bool = False) -> dict[str, object]:
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine
    from ldm_studio.core.generation.requests import ClassCondition, CombinedCondition
    from ldm_studio.core.models.demo_model import demo_model_path

    folder = demo_model_path()
    if folder is None:
        return {"demo_budget": "no demo model in this installation"}
    engine = Engine(choose_device("cpu"))
    engine.load(folder)
    request = GenerationRequest(
        CombinedCondition(TextCondition("a lake in a forest"), ClassCondition((4,))),
        SamplerSettings(steps=5 if smoke else 50, guidance=2.0, width=64, height=64, seed=3),
    )
    out: dict[str, object] = {}
    one_job = 0
    for label, budget_mb in (("default", None), ("small", 0.0)):
        store = TrajectoryStore()
        if budget_mb is not None and one_job:
            store.set_budget_mb(3 * one_job / MB)
        peak = 0
        start = time.perf_counter()
        for key in range(3 if smoke else 20):  # smoke: the path, not the figure
            trajectory = store.start(key, request)

            def on_step(event, trajectory=trajectory, store=store):
                nonlocal peak
                trajectory.record(event)
                peak = max(peak, store.nbytes)

            engine.generate(request, preview=PreviewPolicy("cheap"), on_step=on_step)
        one_job = one_job or store.get(0).nbytes
        out[f"demo_20x50_{label}_budget_mb"] = store.budget / MB
        out[f"demo_20x50_{label}_peak_mb"] = peak / MB
        out[f"demo_20x50_{label}_jobs_with_tensors"] = sum(store.get(k).has_tensors for k in store.jobs())
        out[f"demo_20x50_{label}_seconds"] = time.perf_counter() - start
    out["demo_one_job_mb"] = one_job / MB
    return out
