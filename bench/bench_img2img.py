"""Image-to-image cost: strength 0.5 vs a full generation with the same steps (goal ≤ 0.55×).

Same bench text model, settings and seed (20 DDIM steps, guidance 5, 128×128). Image-to-image
runs the last int(20 · 0.5) = 10 steps plus one first-stage encode; the masked variant adds
the per-step `add_noise` blend and the pixel composite.
"""

from __future__ import annotations

import numpy as np
from common import bench_engine, interleaved

from ldm_studio.core.generation.image_inputs import InitImage
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition

STEPS = 20
SIZE = 128


def run(smoke: bool = False) -> dict[str, object]:
    engine = bench_engine(32 if smoke else 64)
    steps, size = (2, 64) if smoke else (STEPS, SIZE)
    settings = SamplerSettings(sampler="ddim", steps=steps, guidance=5.0, width=size, height=size, seed=1)
    condition = TextCondition("a red cat on a beach")
    picture = engine.generate(GenerationRequest(condition, settings)).images[0]
    mask = np.zeros((size, size), dtype=bool)
    mask[:, size // 2 :] = True
    full = GenerationRequest(condition, settings)
    half = GenerationRequest(condition, settings, InitImage(picture, 0.5))
    masked = GenerationRequest(condition, settings, InitImage(picture, 0.5, mask))
    times = interleaved(
        {
            "full": lambda: engine.generate(full),
            "img2img": lambda: engine.generate(half),
            "masked": lambda: engine.generate(masked),
        },
        rounds=1 if smoke else 7,
    )
    return {
        "img2img_strength_0.5_vs_full_ratio": times["img2img"] / times["full"],
        "masked_img2img_strength_0.5_vs_full_ratio": times["masked"] / times["full"],
        "full_seconds": times["full"],
    }
