"""How many CPU threads torch samples with, and why: one decision for the CLI, batch and the window.

Measured at the real LDM-256 text architecture on an idle 2-core machine (issue 22): headless
runs on `cores - 1` threads took 41.2 s where 2 threads took 24.6 s, so headless commands use
every core the process may run on (its CPU affinity, so `taskset` is respected). The count does
not follow the machine's load: on the CPU the result of a run depends on its thread count (the
kernels split their sums by thread), so a count read from a load figure made the same command
give other pixels a minute later (the load average still counted the previous run; it also made
a `generate` right after another one sample on one thread: 1.68x the plain diffusers script at
real size). On a busy machine `--threads N` (or OMP_NUM_THREADS) says how many. The window keeps
a core for the GUI (`GUI_SPARE_CORE_FROM`). Measurements: docs/benchmarks.md, "threads".
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


def plan_threads(requested: int | None = None, *, gui: bool = False, cores: int | None = None) -> ThreadPlan:
    """Threads to sample with: what was asked for, else every core (headless) or the window's share.

    `cores` defaults to the cores this process may run on. The same machine and options always
    give the same count, so a recipe re-made there gives the same pixels.
    """
    cores = cores or available_cores()
    if requested:
        return ThreadPlan(requested, f"{requested} thread(s) as asked ({cores} core(s) available)")
    from_env = _env_threads()
    if from_env:
        return ThreadPlan(from_env, f"{from_env} thread(s) as OMP_NUM_THREADS asks ({cores} core(s) available)")
    if gui and cores >= GUI_SPARE_CORE_FROM:
        return ThreadPlan(cores - 1, f"{cores - 1} of {cores} cores: one is left to keep the window responsive")
    if gui:
        return ThreadPlan(cores, f"{cores} of {cores} core(s): too few to leave one to the window")
    return ThreadPlan(cores, f"{cores} of {cores} core(s) (headless: every core; --threads N on a busy machine)")


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
