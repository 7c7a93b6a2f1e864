"""Engine vs diffusers' LDMTextToImagePipeline, and the cost of previews.

Same tiny text model, noise and settings (20 DDIM steps, guidance 5, 128×128): the ratio is
engine time / pipeline time (goal ≤ 1.02). Preview overheads are sampling time with a
preview every step / without previews (goal for the cheap projection ≤ 1.01).
"""

from __future__ import annotations

from common import bench_engine, interleaved

from ldm_studio.core.generation.previews import PreviewPolicy, linear_preview_for
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import generators_for, initial_noise, sample
from ldm_studio.testing.tiny_models import diffusers_text_pipeline

STEPS = 20
SIZE = 128


def run(smoke: bool = False) -> dict[str, object]:
    engine = bench_engine(32 if smoke else 64)
    steps, size = (2, 64) if smoke else (STEPS, SIZE)
    model = engine.model
    request = GenerationRequest(
        TextCondition("a red cat on a beach"),
        SamplerSettings(sampler="ddim", steps=steps, guidance=5.0, width=size, height=size, seed=1),
    )
    pipe = diffusers_text_pipeline(model)

    def diffusers_pipeline():
        noise = initial_noise(model.latent_shape(request), generators_for(1, 1), model.device, model.dtype)
        pipe(
            request.condition.prompt,
            height=size,
            width=size,
            num_inference_steps=steps,
            guidance_scale=5.0,
            latents=noise,
            output_type="pt",
        )

    linear_preview_for(model)  # fitted and cached once, as at model load
    times = interleaved(
        {
            "diffusers": diffusers_pipeline,
            "engine": lambda: sample(model, request),
            "engine_cheap_preview": lambda: engine.generate(request, preview=PreviewPolicy("cheap")),
            "engine_no_preview": lambda: engine.generate(request, preview=None),
            "engine_full_preview": lambda: engine.generate(request, preview=PreviewPolicy("full")),
        },
        rounds=1 if smoke else 7,
    )
    return {
        "engine_vs_diffusers_ratio": times["engine"] / times["diffusers"],
        "cheap_preview_overhead_ratio": times["engine_cheap_preview"] / times["engine_no_preview"],
        "full_preview_overhead_ratio": times["engine_full_preview"] / times["engine_no_preview"],
        "engine_seconds_per_step": times["engine"] / steps,
    }
