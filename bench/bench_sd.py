"""Engine vs diffusers' StableDiffusionPipeline on the same tiny random-weight SD model.

Same model, noise and settings (20 DPM++ 2M Karras steps, guidance 7.5 with a negative prompt,
128×128): the ratio is engine time / pipeline time (goal ≤ 1.02). Width 64 as the engine
benchmark's text model, so the U-Net dominates as on a real model.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import interleaved

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import generators_for, initial_noise, sample
from ldm_studio.testing.tiny_sd import diffusers_sd_pipeline, write_sd_model

STEPS = 20
SIZE = 128
SAMPLER = "dpmpp_2m_karras"


def run(smoke: bool = False) -> dict[str, object]:
    """`smoke`: one short round (CI checks that the benchmark runs; its figures mean nothing)."""
    steps, size = (2, 64) if smoke else (STEPS, SIZE)
    folder = write_sd_model(Path(tempfile.mkdtemp(prefix="ldm-bench-sd-")) / "sd-64", width=64)
    engine = Engine(choose_device("cpu"))
    model = engine.load(folder)
    prompt, negative = "a red cat on a beach", "blurry, low quality"
    request = GenerationRequest(
        TextCondition(prompt, negative),
        SamplerSettings(sampler=SAMPLER, steps=steps, guidance=7.5, width=size, height=size, seed=1),
    )
    pipe = diffusers_sd_pipeline(model, SAMPLER)

    def diffusers_pipeline():
        noise = initial_noise(model.latent_shape(request), generators_for(1, 1), model.device, model.dtype)
        pipe(
            prompt,
            negative_prompt=negative,
            height=size,
            width=size,
            num_inference_steps=steps,
            guidance_scale=7.5,
            latents=noise,
            output_type="pt",
        )

    variants = {"diffusers": diffusers_pipeline, "engine": lambda: sample(model, request)}
    times = interleaved(variants, rounds=15)
    cpu = interleaved_cpu(variants, rounds=15)
    return {
        "engine_vs_diffusers_ratio": times["engine"] / times["diffusers"],
        "engine_vs_diffusers_cpu_time_ratio": cpu["engine"] / cpu["diffusers"],
        "engine_seconds_per_step": times["engine"] / steps,
    }


def interleaved_cpu(variants: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median CPU seconds of this process per variant: on a shared machine other processes' load
    stretches wall time unevenly, while a single-threaded run's CPU time stays its own work."""
    spent: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.process_time()
            fn()
            spent[name].append(time.process_time() - start)
    return {name: statistics.median(values) for name, values in spent.items()}
