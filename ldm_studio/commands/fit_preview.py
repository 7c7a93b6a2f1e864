"""`ldm-studio fit-preview MODEL`: distil the tiny approximate preview decoder of a model and cache it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit-preview", help="distil a tiny approximate decoder for readable live previews (cached in the model folder)"
    )
    p.add_argument("model", type=Path, help="model folder (ldm_studio.json or a diffusers repo)")
    p.add_argument("--minutes", type=float, default=3.0, help="training time, after data preparation (default 3)")
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: a GPU when there is one)")
    p.add_argument("--images", type=int, default=256, help="calibration images encoded by the model (default 256)")
    p.add_argument("--runs", type=int, default=4, help="sampling runs (4 images each) whose x0 predictions are used")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    p.add_argument("--quiet", action="store_true", help="print only the written file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ldm_studio.core.errors import RequestError
    from ldm_studio.core.generation.approx_decoder import distill, save_for
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import load_model

    if args.minutes <= 0:
        raise RequestError("--minutes", "must be more than 0")
    if args.images < 4 or args.runs < 0:
        raise RequestError("--images", "needs at least 4 images and 0 or more --runs")
    start = time.perf_counter()

    def say(message: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - start:6.0f} s] {message}", file=sys.stderr, flush=True)

    model = load_model(args.model.expanduser().resolve(), choose_device(args.device))
    decoder = distill(model, args.minutes * 60, images=args.images, runs=args.runs, seed=args.seed, progress=say)
    path = save_for(model, decoder)
    say(f"held-out PSNR against the full decode: {decoder.heldout_psnr_db:.2f} dB")
    print(path)
    return 0
