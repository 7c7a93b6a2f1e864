"""How well the demo model follows its inputs, judged by the shipped scene classifier and segmenter.

`COUNT` images per input kind at the model's default settings (the issue asks for 200; the
default here is smaller to fit a busy CPU, set LDM_BENCH_DEMO_COUNT to change it). Figures:
class accuracy (class-conditioned), caption accuracy (caption → its scene class), map mIoU
(segmentation vs the conditioning map) and its ratio to the real scenes' mIoU, unconditional
class spread (entropy / log 8), and the judges on real procedural scenes (the ceiling).
"""

from __future__ import annotations

import os

import torch

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import load_model
from ldm_studio.core.models.demo_model import demo_model_path
from ldm_studio.demo.evaluate import Judges, evaluate

COUNT = int(os.environ.get("LDM_BENCH_DEMO_COUNT", "40"))


def run(smoke: bool = False) -> dict[str, object]:
    """`smoke`: two images per kind (CI checks that the benchmark runs; its figures mean nothing)."""
    count = 2 if smoke else COUNT
    torch.set_num_threads(1)
    model = load_model(demo_model_path(), choose_device("cpu"))
    result = evaluate(model, Judges.load(), count)
    figures: dict[str, object] = {"images_per_kind": count, **result.figures}
    figures["unconditional_histogram"] = " ".join(str(c) for c in result.unconditional_histogram)
    return figures
