"""Whole process on the tiny text model at 256 px: `ldm-studio generate` against a plain diffusers script.

Issue 22's second goal (within 1.10x in wall time): fresh processes in turn, paired, so imports,
loading, prompt encoding, sampling and writing the PNG all count. 5 DDIM steps, guidance 5, CPU,
threads as each side picks them. Rounds: LDM_BENCH_PROCESS_ROUNDS (5); `--smoke` runs one pair at 64 px.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench_realsize import whole_process


def run(smoke: bool = False) -> dict[str, object]:
    from ldm_studio.testing.tiny_models import write_text_model

    folder = write_text_model(Path(tempfile.mkdtemp(prefix="ldm-bench-process-")) / "tiny", diffusers_only=True)
    rounds = 1 if smoke else int(os.environ.get("LDM_BENCH_PROCESS_ROUNDS", "5"))
    figures: dict[str, object] = {"load_average_at_start": os.getloadavg()[0], "cores": os.cpu_count() or 1}
    figures.update(whole_process(folder, 64 if smoke else 256, rounds))
    return figures
