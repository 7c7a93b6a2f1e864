"""A prompt per painted region against the plain prompt, on the same tiny random-weight SD model.

128×128, 10 DDIM steps, guidance 7.5: the global prompt plus three region texts (sea, sand, sky;
each encoded as its own 77 tokens, so the context is 4× longer, with masked cross- and
self-attention) against the global prompt alone. The ratio is regional / plain time (goal
≤ 1.15). A plain request runs diffusers' own processors (tests/core/generation/test_regions.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from bench_sd import interleaved_cpu
from common import interleaved

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.region_types import RegionalCondition
from ldm_studio.core.generation.requests import (
    GenerationRequest,
    SamplerSettings,
    SemanticMapCondition,
    TextCondition,
)
from ldm_studio.core.generation.sampling import sample
from ldm_studio.core.maps.labels import load_label_set
from ldm_studio.testing.tiny_sd import write_sd_model

STEPS = 10
SIZE = 128


def painted_map(size: int) -> np.ndarray:
    """Sky above, sea in the middle, sand below (COCO-Stuff indices)."""
    labels = load_label_set("coco-stuff-182")
    label_map = np.full((size, size), labels.index_of("sky-other"), dtype=np.int64)
    label_map[size // 3 :] = labels.index_of("sea")
    label_map[2 * size // 3 :] = labels.index_of("sand")
    return label_map


def run(smoke: bool = False) -> dict[str, object]:
    """`smoke`: one short round (CI checks that the benchmark runs; its figures mean nothing)."""
    steps, size, rounds = (2, 64, 1) if smoke else (STEPS, SIZE, 11)
    folder = write_sd_model(Path(tempfile.mkdtemp(prefix="ldm-bench-regions-")) / "sd-64", width=64)
    engine = Engine(choose_device("cpu"))
    model = engine.load(folder)
    settings = SamplerSettings(sampler="ddim", steps=steps, guidance=7.5, width=size, height=size, seed=1)
    prompt = TextCondition("a photo of a beach", "blurry")
    texts = {"sea": "a stormy sea with white foam", "sand": "the sand", "sky-other": "a clear sky"}
    regional = RegionalCondition.build(prompt, SemanticMapCondition(painted_map(size)), texts)
    plain_request, regional_request = GenerationRequest(prompt, settings), GenerationRequest(regional, settings)

    variants = {"plain": lambda: sample(model, plain_request), "regions": lambda: sample(model, regional_request)}
    times = interleaved(variants, rounds=rounds)
    cpu = interleaved_cpu(variants, rounds=rounds)
    return {
        "regions_vs_plain_ratio": times["regions"] / times["plain"],
        "regions_vs_plain_cpu_time_ratio": cpu["regions"] / cpu["plain"],
        "plain_seconds_per_step": times["plain"] / steps,
        "regions_seconds_per_step": times["regions"] / steps,
    }
