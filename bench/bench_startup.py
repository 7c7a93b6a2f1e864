"""Startup (issue 19): how long the command line takes before it does anything, in fresh processes.

`--help`, `--version`, an argument error and `models list` must not import torch; `generate` on
the demo model is split into phases (`startup_phases.py`: imports, model load, sampling, PNG
writing, the rest) and compared with the import floor it cannot go below in the same run: the
interpreter, `import torch`, torch + `torch._dynamo` (which diffusers imports unconditionally),
and the exact diffusers/transformers modules the demo model needs. Absolute times on these
shared machines move with the load, so each figure is the median of REPEATS runs, with its
CPU time (user + system, children included) beside it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 3
HERE = Path(__file__).resolve().parent

# The modules `generate` on the demo model cannot do without (U-Net, autoencoder, DDIM, LDMBert, its tokenizer).
DEMO_IMPORTS = (
    "import torch; from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel; "
    "from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL; "
    "from diffusers.schedulers.scheduling_ddim import DDIMScheduler; "
    "from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertModel; "
    "from transformers import AutoTokenizer"
)


def _run(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the child's user + system) and stdout of one fresh process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, done.stdout


def _median(args: list[str], repeats: int) -> tuple[float, float]:
    runs = [_run(args)[:2] for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def run(smoke: bool = False) -> dict[str, object]:
    """Whole commands, REPEATS times each (once with `smoke`)."""
    repeats = 1 if smoke else REPEATS
    cli = ["-m", "ldm_studio"]
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as out:
        commands = {
            "python": ["-c", "pass"],
            "help": [*cli, "--help"],
            "version": [*cli, "--version"],
            "argument_error": [*cli, "generate", "--steps", "x"],
            "models_list": [*cli, "models", "list"],
            "import_torch": ["-c", "import torch"],
            "import_torch_dynamo": ["-c", "import torch, torch._dynamo"],
            "import_floor": ["-c", DEMO_IMPORTS],
        }
        for name, args in commands.items():
            figures[f"{name}_seconds"], figures[f"{name}_cpu_seconds"] = _median(args, repeats)
        generate = ["generate", "--prompt", "a forest", "--seed", "1", "--quiet", "--out", out]
        phases: dict[str, list[float]] = {}
        walls, cpus = [], []
        for _ in range(repeats):
            wall, cpu, stdout = _run([str(HERE / "startup_phases.py"), *generate])
            walls.append(wall)
            cpus.append(cpu)
            for key, value in json.loads(stdout.strip().splitlines()[-1]).items():
                phases.setdefault(key, []).append(float(value))
    figures["generate_demo_seconds"] = statistics.median(walls)
    figures["generate_demo_cpu_seconds"] = statistics.median(cpus)
    for key in ("imports", "load", "sample", "write", "other"):
        figures[f"generate_{key}_seconds"] = statistics.median(phases[key])
    floor = figures["import_floor_seconds"]
    assert isinstance(floor, float)
    figures["generate_over_import_floor"] = figures["generate_demo_seconds"] / floor
    return figures
