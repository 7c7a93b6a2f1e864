"""Opening a model: time until it is reported loaded, the preview projection fit's quality
against its cost, and whether the load-time warm-up shortens load → first image.

The fit is measured on the shipped demo model (a trained KL-f4 autoencoder, so the quality
figures mean something): for each calibration set (images × latent side) the fit's seconds
and its PSNR on 24 held-out calibration images (another seed) against the images pooled to
latent size, next to the old set (24 images, 16 latent pixels a side). Warm-up: fresh engines
load the model and make one image at the model's default steps, with and without warm-up,
in turn (paired), median of the rounds.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine, load_model
from ldm_studio.core.generation.previews import calibration_images, fit_linear_preview
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings
from ldm_studio.core.models.demo_model import demo_model_path

# (images, latent pixels a side); the first is the fit LDM Studio used before issue 22
FIT_SETS = [(24, 16), (12, 16), (8, 16), (4, 16), (24, 8), (8, 8)]


def run(smoke: bool = False) -> dict[str, object]:
    path = demo_model_path()
    if path is None:
        return {"skipped": "no demo model in this installation"}
    choice = choose_device("cpu")
    Engine(choice).prepare_thread()
    model = load_model(path, choice)
    f = model.info.latent_factor
    figures: dict[str, object] = {}

    held_out = calibration_images(16 * f, 24, seed=1)
    with torch.inference_mode():
        held_latents = torch.cat([model.encode_images(b).float() for b in held_out.split(8)])
    targets = F.avg_pool2d(held_out, f).permute(0, 2, 3, 1)
    for count, side in FIT_SETS[:2] if smoke else FIT_SETS:
        times = []
        for _ in range(1 if smoke else 3):
            start = time.perf_counter()
            projection = fit_linear_preview(model, size=side * f, count=count)
            times.append(time.perf_counter() - start)
        rgb = projection.project(held_latents).float() / 127.5 - 1  # (N, h, w, 3)
        mse = float(((rgb - targets) ** 2).mean())
        figures[f"fit_{count}x{side}_seconds"] = statistics.median(times)
        figures[f"fit_{count}x{side}_psnr_db"] = 10 * torch.log10(torch.tensor(4.0 / mse)).item()

    # load → reported loaded (no fit: that happens afterwards), and load → first image
    del model

    def first_image(warm_up: bool) -> tuple[float, float]:
        engine = Engine(choice)
        start = time.perf_counter()
        loaded = engine.load(path, warm_up=warm_up)
        reported = time.perf_counter() - start
        info = loaded.info
        steps = 2 if smoke else info.defaults.steps
        size = info.resolution
        settings = SamplerSettings(steps=steps, guidance=info.defaults.guidance, seed=1, width=size, height=size)
        engine.generate(GenerationRequest(loaded.default_condition(), settings))
        return reported, time.perf_counter() - start

    rounds = {True: [], False: []}
    for _ in range(1 if smoke else 5):
        for warm in (True, False):
            rounds[warm].append(first_image(warm))
    for warm, name in ((True, "warm_up"), (False, "no_warm_up")):
        figures[f"{name}_loaded_seconds"] = statistics.median(r[0] for r in rounds[warm])
        figures[f"{name}_first_image_seconds"] = statistics.median(r[1] for r in rounds[warm])
    figures["first_image_warm_up_over_none"] = (
        figures["warm_up_first_image_seconds"] / figures["no_warm_up_first_image_seconds"]
    )
    return figures
