"""`python bench/run.py --smoke` runs every default benchmark to the end (no figure is asserted).

A fresh LDM Studio home, as in CI: the window benchmark must not trip over the demo model
that a first run opens by itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_all_benchmarks_run_once(tmp_path):
    env = {**os.environ, "LDM_STUDIO_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("batch", "engine", "gui"):
        assert f"{name}.wall_seconds:" in done.stdout
    assert "realsize." not in done.stdout  # opt-in only


def test_realsize_runs_once_on_the_tiny_model(tmp_path):
    """The opt-in real-size benchmark, in its smoke form (tiny model, one round): it runs to the end."""
    env = {**os.environ, "LDM_STUDIO_HOME": str(tmp_path / "home")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "realsize"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for figure in ("process_wall_engine_over_diffusers", "fit_s", "load_s", "engine_step_cpu_s"):
        assert f"realsize.{figure}:" in done.stdout
