"""Run LDM Studio's benchmarks: `python bench/run.py` runs all, `python bench/run.py NAME` one.

Each benchmark is a module `bench/bench_NAME.py` with `run(smoke=False) -> dict[str, object]`;
every figure prints as one `name: value` line. Figures are ratios measured in one run, since
these machines are too noisy for absolute times.

`--smoke` runs every benchmark once, short, on the tiny model (CI checks that they run; no
figure means anything then). Benchmarks in `OPT_IN` are slow and run only when named.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPT_IN = {"realsize", "process"}  # real-size models (minutes, gigabytes) and whole-process pairs: only when named


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    smoke = "--smoke" in argv
    names = [a for a in argv if a != "--smoke"] or [n for n in available() if n not in OPT_IN]
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    from ldm_studio.quiet import quiet_libraries

    quiet_libraries()
    for name in names:
        start = time.perf_counter()
        figures = importlib.import_module(f"bench_{name}").run(smoke=smoke)
        for key, value in figures.items():
            shown = f"{value:.4g}" if isinstance(value, float) else value
            print(f"{name}.{key}: {shown}", flush=True)
        print(f"{name}.wall_seconds: {time.perf_counter() - start:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
