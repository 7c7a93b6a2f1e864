"""Batch throughput vs the bare engine on the same jobs (goal ≥ 0.95).

The batch runner writes each PNG (with its recipe) and a manifest line on a writer thread
while the engine samples the next image; the bare engine only samples. Ratio = bare time /
batch time, i.e. the share of the engine's throughput the batch keeps.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from common import bench_engine, interleaved

from ldm_studio.core.batch import BatchRun, expand, read_spec

IMAGES = 8


def run(smoke: bool = False) -> dict[str, object]:
    engine = bench_engine(32 if smoke else 64)
    images, steps, size = (2, 2, 64) if smoke else (IMAGES, 10, 128)
    work = Path(tempfile.mkdtemp(prefix="ldm-bench-batch-"))
    row = {"steps": steps, "width": size, "height": size}
    rows = [{"prompt": f"a red cat {i}", "seed": i, **row} for i in range(images)]
    spec_file = work / "spec.jsonl"
    spec_file.write_text("\n".join(json.dumps(r) for r in rows))
    spec = read_spec(spec_file)
    jobs, _ = expand(spec, engine.model.info, base_seed=0)
    counter = iter(range(10_000))

    def bare():
        for job in jobs:
            engine.generate(job.single_request())

    def batch():
        out = work / f"out{next(counter)}"
        BatchRun(engine, spec, out, base_seed=0).run()
        shutil.rmtree(out)

    times = interleaved({"bare": bare, "batch": batch}, rounds=1 if smoke else 5)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "throughput_vs_bare_engine_ratio": times["bare"] / times["batch"],
        "images_per_second_batch": images / times["batch"],
    }
