"""Preview fidelity on the demo model: PSNR of each cheap preview of x0 against the full decode of that x0.

16 seeds, each with a caption of a procedural scene, at the model's default settings; x0 is
taken at 25/50/75/100% of the steps. Kinds: `linear_nearest` (the projection at latent size,
blown up in blocks, as the window showed it before), `linear_bilinear` (the same, upscaled
smoothly), `approx` (the tiny distilled decoder, core.approx_decoder) and `full` (the exact
decode). Cost is the time of one preview of one image / one sampling step of one image (goal
for approx: ≤ 0.05). Goal for approx: ≥ 24 dB at 75% of the steps.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from ldm_studio.core.generation.approx_decoder import approx_decoder_for, upscaled_linear
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import load_model
from ldm_studio.core.generation.previews import linear_preview_for
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import denoise
from ldm_studio.core.models.demo_model import demo_model_path
from ldm_studio.demo.scenes import generate_scenes

SEEDS = 16
FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def _psnr(preview: np.ndarray, truth: np.ndarray) -> float:
    mse = float(np.mean((preview.astype(np.float64) - truth.astype(np.float64)) ** 2)) / 255.0**2
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return (images.permute(0, 2, 3, 1) * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def run(smoke: bool = False) -> dict[str, object]:
    """`smoke`: two seeds (CI checks that the benchmark runs; its figures mean nothing)."""
    torch.set_num_threads(1)
    model = load_model(demo_model_path(), choose_device("cpu"))
    decoder = approx_decoder_for(model)
    if decoder is None:
        raise SystemExit("the demo model has no preview_decoder.safetensors: run `ldm-studio fit-preview` first")
    projection = linear_preview_for(model)
    f = model.info.latent_factor
    d = model.info.defaults
    side = model.info.resolution
    captions = generate_scenes(2 if smoke else SEEDS, seed=2024).captions
    kinds = {
        "linear_nearest": lambda z: np.repeat(np.repeat(projection.project(z).numpy(), f, axis=1), f, axis=2),
        "linear_bilinear": lambda z: upscaled_linear(projection, z, f),
        "approx": decoder.project,
        "full": lambda z: _to_uint8(model.decode(z)),
    }
    psnr: dict[str, dict[float, list[float]]] = {k: {p: [] for p in FRACTIONS} for k in kinds if k != "full"}
    step_seconds: list[float] = []
    kept: list[torch.Tensor] = []
    for seed, caption in enumerate(captions):
        settings = SamplerSettings(d.sampler, d.steps, d.guidance, d.eta, seed=seed, width=side, height=side)
        request = GenerationRequest(TextCondition(caption), settings)
        start, x0s = time.perf_counter(), []
        for event in denoise(model, request):
            x0s.append(event.x0.detach().float().cpu())
        step_seconds.append((time.perf_counter() - start) / len(x0s))
        for p in FRACTIONS:
            z = x0s[max(round(p * len(x0s)) - 1, 0)]
            kept.append(z)
            truth = kinds["full"](z)
            for kind in psnr:
                psnr[kind][p].append(_psnr(kinds[kind](z), truth))
    figures: dict[str, object] = {}
    for kind, by_fraction in psnr.items():
        for p, values in by_fraction.items():
            figures[f"{kind}_psnr_db_at_{round(p * 100)}pct"] = float(np.mean(values))
    step = statistics.median(step_seconds)
    one = kept[len(kept) // 2]
    for kind, fn in kinds.items():
        fn(one)  # warm-up
        times = []
        for _ in range(15):
            start = time.perf_counter()
            fn(one)
            times.append(time.perf_counter() - start)
        figures[f"{kind}_cost_fraction_of_step"] = statistics.median(times) / step
    figures["seconds_per_step"] = step
    figures["approx_decoder_parameters"] = sum(p.numel() for p in decoder.net.parameters())
    return figures
