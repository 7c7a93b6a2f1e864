"""How many CPU threads torch samples with, and why: one decision for the CLI, batch and the window.

Measured at the real LDM-256 text architecture on an idle 2-core machine (issue 22): headless
runs on `cores - 1` threads took 41.2 s where 2 threads took 24.6 s, so headless commands use
every core the process may run on (its CPU affinity, so `taskset` is respected) that other
work is not already using. The exception matters: on the same machine under a load average
of 8-9, the tiny model's steps took 1.8-2.5 s on 2 threads against 0.04-0.09 s on one, since
each OpenMP region waits for its slowest, descheduled thread; so cores busy at start (the
1-minute load average, capped by the tasks runnable right now: the average still counts a run
that just ended) are left out. The window also keeps a core for the GUI
(`GUI_SPARE_CORE_FROM`). Measurements: docs/benchmarks.md, "threads".
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from ldm_studio.core.errors import RequestError

log = logging.getLogger(__name__)

# The window leaves one core to the GUI from this many cores up. Measured on 2 cores (a shared
# machine, `python bench/run.py gui` with LDM_BENCH_GUI_THREADS=1 or 2): with the engine on
# both, the window benchmark did not finish in 300 s (OpenMP threads waiting on a core the GUI
# thread and other processes held), on one it took 21-59 s. 4 and 8 cores were not measured
# (no such machine); the same rule applies there. docs/benchmarks.md, "threads".
GUI_SPARE_CORE_FROM = 2


@dataclass(frozen=True)
class ThreadPlan:
    """The thread count for torch's intra-op pool and a sentence saying why."""

    count: int
    reason: str


def available_cores() -> int:
    """Cores this process may run on (its affinity mask), not all the machine has."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def check_threads(value: int | None, option: str = "--threads") -> int | None:
    """A requested thread count, or a one-line error naming the option."""
    if value is not None and value < 1:
        raise RequestError(option, f"must be 1 or more (got {value})")
    return value


def plan_threads(
    requested: int | None = None, *, gui: bool = False, cores: int | None = None, load: float | None = None
) -> ThreadPlan:
    """Threads to sample with: what was asked for, else every idle core (headless) or the window's share.

    `cores` and `load` (the 1-minute load average) default to this machine's, read now.
    """
    cores = cores or available_cores()
    if requested:
        return ThreadPlan(requested, f"{requested} thread(s) as asked ({cores} core(s) available)")
    from_env = _env_threads()
    if from_env:
        return ThreadPlan(from_env, f"{from_env} thread(s) as OMP_NUM_THREADS asks ({cores} core(s) available)")
    load = _load_average() if load is None else load
    idle = max(1, min(cores, round(cores - load)))
    busy = f"; load average {load:.1f}, so {cores - idle} busy" if idle < cores else ""
    if gui and cores >= GUI_SPARE_CORE_FROM:
        count = max(1, min(idle, cores - 1))
        return ThreadPlan(count, f"{count} of {cores} cores: one is left to keep the window responsive{busy}")
    if gui:
        return ThreadPlan(idle, f"{idle} of {cores} core(s): too few to leave one to the window")
    return ThreadPlan(idle, f"{idle} of {cores} core(s) (headless: every idle core{busy})")


def _load_average() -> float:
    """Cores other work keeps busy: the 1-minute load average, but no more than the tasks runnable right
    now. The average lags by a minute, so on its own it counted a run that had just ended (the previous
    `generate` of a script, the other side of a benchmark pair) and the next run took one thread where
    two were free: 1.68x the plain diffusers script's wall time at the real LDM-256 size."""
    try:
        average = max(0.0, os.getloadavg()[0])
    except (AttributeError, OSError):  # Windows: no load average; assume the cores are free
        return 0.0
    running = _runnable_now()
    return average if running is None else min(average, running)


def _runnable_now(path: str = "/proc/loadavg") -> float | None:
    """Tasks runnable at this moment besides this one (Linux), or None where the system does not say."""
    try:
        with open(path, encoding="ascii") as file:
            field = file.read().split()[3]
        return max(0.0, float(int(field.split("/")[0]) - 1))  # the reading process is one of them
    except (OSError, IndexError, ValueError):
        return None


def _env_threads() -> int | None:
    """OMP_NUM_THREADS, when set to a positive number: someone limited this process on purpose."""
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def apply_threads(plan: ThreadPlan) -> None:
    """Set torch's intra-op thread count (process-wide) and say the choice in the log."""
    import torch

    torch.set_num_threads(plan.count)  # per thread for OpenMP: called in the thread that samples
    log.info("CPU threads: %s", plan.reason)
