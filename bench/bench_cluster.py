"""Batch over workers: 2 worker processes vs 1 in-process engine, and Ray's driver overhead.

- `workers2_vs_1_throughput_ratio`: images/s of `--workers 2` (two processes, the cores split
  between them) over the default single in-process engine, on the same 8 jobs. On a CPU the
  engines share the same cores, so this measures how well two 1-thread engines fill them
  compared with one engine's own threads; a GPU figure (one worker per GPU) was not measured.
- `ray_1_actor_vs_in_process_throughput_ratio`: one Ray actor with the in-process engine's
  thread count vs the in-process batch; 1 - ratio is the driver overhead per image (goal ≤ 5%).

Workers are started (model loaded) before timing, so these are steady-state figures.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from common import bench_engine, interleaved

from ldm_studio.core.batch import BatchRun, read_spec
from ldm_studio.core.batch.workers import ProcessBackend

IMAGES = 8


class Kept:
    """A backend started once and kept across timed runs (BatchRun starts and closes it each run)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        inner.start()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


def run(smoke: bool = False) -> dict[str, object]:
    """`smoke`: two images (CI checks that the benchmark runs; its figures mean nothing)."""
    images = 2 if smoke else IMAGES
    engine = bench_engine()
    info = engine.model.info
    threads = torch.get_num_threads()
    work = Path(tempfile.mkdtemp(prefix="ldm-bench-cluster-"))
    rows = [{"prompt": f"a red cat {i}", "seed": i, "steps": 10, "width": 128, "height": 128} for i in range(images)]
    spec_file = work / "spec.jsonl"
    spec_file.write_text("\n".join(json.dumps(r) for r in rows))
    spec = read_spec(spec_file)
    counter = iter(range(10_000))

    def batch(backend: Any = None) -> None:
        out = work / f"out{next(counter)}"
        report = BatchRun(engine if backend is None else None, spec, out, base_seed=0, backend=backend).run()
        assert report.ok and len(report.written) == images
        shutil.rmtree(out)

    two = Kept(ProcessBackend(info, ["cpu", "cpu"]))
    figures: dict[str, object] = {"in_process_threads": threads, "threads_per_worker_of_2": two.threads}
    variants = {"in_process": lambda: batch(), "workers2": lambda: batch(two)}
    try:
        import ray

        from ldm_studio.core.batch.ray_backend import RayBackend

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        actor = RayBackend(str(info.path), info, "auto", workers=1)
        actor.threads = threads  # the in-process engine's thread count: only the driver path differs
        kept_actor = Kept(actor)
        variants["ray1"] = lambda: batch(kept_actor)
    except ImportError:
        ray = None
    try:
        times = interleaved(variants, rounds=1 if smoke else 3)
    finally:
        two.inner.close()
        if ray is not None:
            kept_actor.inner.close()
            ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    figures["images_per_second_in_process"] = images / times["in_process"]
    figures["workers2_vs_1_throughput_ratio"] = times["in_process"] / times["workers2"]
    if "ray1" in times:
        figures["ray_1_actor_vs_in_process_throughput_ratio"] = times["in_process"] / times["ray1"]
    return figures
