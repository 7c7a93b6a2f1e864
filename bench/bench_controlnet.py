"""Engine + ControlNet vs diffusers' StableDiffusionControlNetPipeline on the same tiny random-weight model.

Same SD model, ControlNet, control map, noise and settings (12 DPM++ 2M Karras steps, guidance 7.5,
scale 1.0 over the whole schedule, 128×128, width 64 so the U-Net and ControlNet dominate as on a
real model). Figures: engine time / pipeline time (goal ≤ 1.02), and what a ControlNet costs the
engine (with / without it). A window of 0.2–0.8 skips the ControlNet on the other steps (it adds
exact zeros there): `window_vs_full_cpu_time_ratio` measures that saving.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench_sd import interleaved_cpu
from common import interleaved
from diffusers import ControlNetModel
from PIL import Image

from ldm_studio.core.generation.control_inputs import ControlNetCondition, ControlSpec
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import generators_for, initial_noise, sample
from ldm_studio.testing.tiny_controlnet import diffusers_controlnet_pipeline, painted_ade_map, write_controlnet
from ldm_studio.testing.tiny_sd import write_sd_model

STEPS = 12
SIZE = 128
SAMPLER = "dpmpp_2m_karras"


def run(smoke: bool = False) -> dict[str, object]:
    """`smoke`: one short round (CI checks that the benchmark runs; its figures mean nothing)."""
    steps, size, rounds = (2, 64, 1) if smoke else (STEPS, SIZE, 5)
    root = Path(tempfile.mkdtemp(prefix="ldm-bench-controlnet-"))
    folder = write_sd_model(root / "sd-64", width=64)
    net = write_controlnet(root / "controlnet", folder, seed=1)
    model = Engine(choose_device("cpu")).load(folder)
    prompt, negative = "a red cat on a beach", "blurry, low quality"
    settings = SamplerSettings(sampler=SAMPLER, steps=steps, guidance=7.5, width=size, height=size, seed=1)
    text = TextCondition(prompt, negative)

    def controlled(start: float, end: float) -> GenerationRequest:
        spec = ControlSpec("bench", str(net), None, 1.0, start, end)
        return GenerationRequest(ControlNetCondition(text, spec, painted_ade_map(size, size)), settings)

    full, window, plain = controlled(0.0, 1.0), controlled(0.2, 0.8), GenerationRequest(text, settings)
    assert isinstance(full.condition, ControlNetCondition)
    image = Image.fromarray(full.condition.control_image(size, size))
    pipe = diffusers_controlnet_pipeline(model, ControlNetModel.from_pretrained(net).eval(), SAMPLER)

    def diffusers_pipeline():
        noise = initial_noise(model.latent_shape(full), generators_for(1, 1), model.device, model.dtype)
        pipe(
            prompt,
            image=image,
            negative_prompt=negative,
            height=size,
            width=size,
            num_inference_steps=steps,
            guidance_scale=7.5,
            latents=noise,
            output_type="pt",
        )

    variants = {
        "diffusers": diffusers_pipeline,
        "engine": lambda: sample(model, full),
        "window": lambda: sample(model, window),
        "plain": lambda: sample(model, plain),
    }
    times = interleaved(variants, rounds=rounds)
    cpu = interleaved_cpu(variants, rounds=rounds)
    return {
        "engine_vs_diffusers_ratio": times["engine"] / times["diffusers"],
        "engine_vs_diffusers_cpu_time_ratio": cpu["engine"] / cpu["diffusers"],
        "controlnet_vs_plain_cpu_time_ratio": cpu["engine"] / cpu["plain"],
        "window_vs_full_cpu_time_ratio": cpu["window"] / cpu["engine"],
        "engine_seconds_per_step": times["engine"] / steps,
    }
