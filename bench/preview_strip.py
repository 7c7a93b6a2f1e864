"""Write docs/screenshots/preview_strip.png: the demo model's live previews at 25/50/75/100% of the steps.

Rows per caption: the old preview (linear projection, blocky), the linear projection upscaled
bilinearly, the approximate decoder, and the full decode of the same x0. Run:
`python bench/preview_strip.py [OUT.png]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from ldm_studio.core.generation.approx_decoder import approx_decoder_for, upscaled_linear
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import load_model
from ldm_studio.core.generation.previews import linear_preview_for, to_uint8
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.generation.sampling import denoise
from ldm_studio.core.models.demo_model import demo_model_path

CAPTIONS = ("a blue lake below the mountains", "a dense forest of green trees", "a sandy beach by the sea")
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
CELL, LABEL_W, HEAD_H = 128, 150, 22


def main(out: Path) -> Path:
    torch.set_num_threads(1)
    model = load_model(demo_model_path(), choose_device("cpu"))
    projection, decoder = linear_preview_for(model), approx_decoder_for(model)
    f, d, side = model.info.latent_factor, model.info.defaults, model.info.resolution
    kinds = {
        "linear (before)": lambda z: Image.fromarray(projection.project(z).numpy()[0]).resize((CELL, CELL), 0),
        "linear, bilinear": lambda z: Image.fromarray(upscaled_linear(projection, z, f)[0]),
        "approx decoder": lambda z: Image.fromarray(decoder.project(z)[0]),
        "full decode": lambda z: Image.fromarray(to_uint8(model.decode(z))[0]),
    }
    rows = len(CAPTIONS) * len(kinds)
    sheet = Image.new("RGB", (LABEL_W + CELL * len(FRACTIONS), HEAD_H + rows * CELL + len(CAPTIONS) * HEAD_H), "white")
    draw = ImageDraw.Draw(sheet)
    for j, p in enumerate(FRACTIONS):
        draw.text((LABEL_W + j * CELL + 40, 5), f"{round(p * 100)}% of steps", fill="black")
    y = HEAD_H
    for seed, caption in enumerate(CAPTIONS):
        settings = SamplerSettings(d.sampler, d.steps, d.guidance, d.eta, seed=seed, width=side, height=side)
        x0s = [e.x0.detach().float().cpu() for e in denoise(model, GenerationRequest(TextCondition(caption), settings))]
        draw.text((6, y + 5), f'"{caption}" (seed {seed}, {len(x0s)} steps)', fill="black")
        y += HEAD_H
        for name, render in kinds.items():
            draw.text((6, y + CELL // 2 - 6), name, fill="black")
            for j, p in enumerate(FRACTIONS):
                cell = render(x0s[max(round(p * len(x0s)) - 1, 0)])
                sheet.paste(cell.resize((CELL, CELL), Image.Resampling.BICUBIC), (LABEL_W + j * CELL, y))
            y += CELL
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "preview_strip.png"
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else default))
