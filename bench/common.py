"""Helpers shared by the benchmarks: a bench-sized tiny model and interleaved timing."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.testing.tiny_models import write_text_model

_ENGINES: dict[int, Engine] = {}


def bench_engine(width: int = 64) -> Engine:
    """A CPU engine on a random-weight text model a few times larger than the test one."""
    if width not in _ENGINES:
        folder = Path(tempfile.mkdtemp(prefix="ldm-bench-")) / f"text-{width}"
        write_text_model(folder, seed=0, width=width)
        engine = Engine(choose_device("cpu"))
        engine.load(folder)
        _ENGINES[width] = engine
    return _ENGINES[width]


def interleaved(variants: dict[str, Callable[[], object]], rounds: int = 7) -> dict[str, float]:
    """Median seconds per variant, running the variants in turn each round (noise hits all alike)."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():  # warm-up
        fn()
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
