"""The plain diffusers script `bench_realsize` times `ldm-studio generate` against (run as its own process).

Usage: python realsize_diffusers.py MODEL_DIR OUT.png STEPS SIZE
"""

from __future__ import annotations

import sys

import torch
from diffusers import LDMTextToImagePipeline

model, out, steps, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pipe = LDMTextToImagePipeline.from_pretrained(model)
pipe.set_progress_bar_config(disable=True)
generator = torch.Generator().manual_seed(1)
result = pipe("a red cat", height=size, width=size, num_inference_steps=steps, guidance_scale=5.0, generator=generator)
result.images[0].save(out)
