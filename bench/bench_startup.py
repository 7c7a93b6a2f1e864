"""Startup (issue 19): how long the command line takes before it does anything, in fresh processes.

`--help`, `--version` and an argument error must not import torch; `generate` on the demo model
is compared with the import floor it cannot go below (torch + diffusers + transformers) in the
same run, since absolute times on these shared machines move with the load.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

REPEATS = 3


def _seconds(args: list[str]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(smoke: bool = False) -> dict[str, object]:
    """Whole commands, timed once each (`smoke` changes nothing: they are already short)."""
    cli = ["-m", "ldm_studio"]
    with tempfile.TemporaryDirectory() as out:
        figures: dict[str, object] = {
            "python_seconds": _seconds(["-c", "pass"]),
            "help_seconds": _seconds([*cli, "--help"]),
            "version_seconds": _seconds([*cli, "--version"]),
            "argument_error_seconds": _seconds([*cli, "generate", "--steps", "x"]),
            "import_floor_seconds": _seconds(["-c", "import torch, diffusers.models, transformers"]),
            "generate_demo_seconds": _seconds([*cli, "generate", "--prompt", "a forest", "--seed", "1", "--quiet",
                                               "--out", out]),
        }
    figures["generate_over_import_floor"] = figures["generate_demo_seconds"] / figures["import_floor_seconds"]
    return figures
