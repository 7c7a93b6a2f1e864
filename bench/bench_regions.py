"""A prompt per painted region against the plain prompt: the U-Net step, on the same tiny random-weight SD model.

128×128 latents of the tiny SD model at width 64, guidance 7.5 (the batch [uncond, cond]): the
global prompt plus three region texts (sea, sand, sky; each encoded as its own 77 tokens, so the
conditional context is 4× longer; cross-attention masked by region, self-attention kept within
regions) against the global prompt alone. One figure is one U-Net step (`predict_noise`, what the
loop runs per step); the variants alternate in blocks of steps, each with its own processors
installed as the family's `encode` installs them. The ratios are regional / plain, of the median
and of the fastest block (the least disturbed on a shared machine); goal ≤ 1.15.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.region_types import RegionalCondition
from ldm_studio.core.generation.requests import (
    GenerationRequest,
    SamplerSettings,
    SemanticMapCondition,
    TextCondition,
)
from ldm_studio.core.maps.labels import load_label_set
from ldm_studio.testing.tiny_sd import write_sd_model

SIZE = 128
BLOCK = 10  # U-Net steps per timed block


def painted_map(size: int) -> np.ndarray:
    """Sky above, sea in the middle, sand below, and a rock in the sea (COCO-Stuff indices)."""
    labels = load_label_set("coco-stuff-182")
    label_map = np.full((size, size), labels.index_of("sky-other"), dtype=np.int64)
    label_map[size // 3 :] = labels.index_of("sea")
    label_map[2 * size // 3 :] = labels.index_of("sand")
    label_map[size // 2 : size // 2 + size // 8, size // 4 : size // 2] = labels.index_of("rock")
    return label_map


def run(smoke: bool = False) -> dict[str, object]:
    """`smoke`: one short round (CI checks that the benchmark runs; its figures mean nothing)."""
    size, rounds = (64, 1) if smoke else (SIZE, 15)
    folder = write_sd_model(Path(tempfile.mkdtemp(prefix="ldm-bench-regions-")) / "sd-64", width=64)
    model = Engine(choose_device("cpu")).load(folder)
    settings = SamplerSettings(sampler="ddim", steps=10, guidance=7.5, width=size, height=size, seed=1)
    prompt = TextCondition("a photo of a beach", "blurry")
    texts = {"sea": "a stormy sea with white foam", "sand": "the sand", "sky-other": "a clear sky", "rock": "a rock"}
    regional = RegionalCondition.build(prompt, SemanticMapCondition(painted_map(size)), texts)
    shape = model.latent_shape(GenerationRequest(prompt, settings))
    latents = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0))
    t = torch.tensor(500)

    def steps(condition) -> float:
        """Seconds of BLOCK U-Net steps, after `encode` (which installs the processors this condition needs)."""
        cond = model.encode(condition, 1, True, GenerationRequest(condition, settings)).batch(True)
        start = time.perf_counter()
        for _ in range(BLOCK):
            model.predict_noise(latents, t, cond)
        return time.perf_counter() - start

    variants = {"plain": prompt, "regions": regional}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for condition in variants.values():  # warm-up
        steps(condition)
    for _ in range(rounds):
        for name, condition in variants.items():
            times[name].append(steps(condition) / BLOCK)
    median = {name: statistics.median(values) for name, values in times.items()}
    fastest = {name: min(values) for name, values in times.items()}
    return {
        "regions_vs_plain_step_ratio": median["regions"] / median["plain"],
        "regions_vs_plain_fastest_step_ratio": fastest["regions"] / fastest["plain"],
        "plain_seconds_per_step": median["plain"],
        "regions_seconds_per_step": median["regions"],
    }
