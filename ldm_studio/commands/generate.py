"""`ldm-studio generate`: sample images from a model folder and write them as PNGs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ldm_studio.core.device import choose_device
from ldm_studio.core.engine import Engine
from ldm_studio.core.errors import RequestError
from ldm_studio.core.model_folder import ModelInfo, read_model_info
from ldm_studio.core.outputs import recipe_text, write_png_atomic
from ldm_studio.core.recipe import request_recipe
from ldm_studio.core.requests import (
    Condition,
    GenerationRequest,
    SamplerSettings,
    TextCondition,
    random_seed,
)
from ldm_studio.core.samplers import SAMPLER_NAMES
from ldm_studio.core.store import history_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("generate", help="make images from the command line")
    p.add_argument("--model", required=True, help="model folder (ldm_studio.json or a diffusers repo)")
    p.add_argument("--prompt", help="text prompt (text models)")
    p.add_argument("--negative", default="", help="negative prompt: what guidance steers away from")
    p.add_argument("--seed", type=int, help="seed of the first image (image i uses seed + i); random if omitted")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--sampler", choices=SAMPLER_NAMES, help="sampler (default: the model's)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (1 = none)")
    p.add_argument("--eta", type=float, help="DDIM eta (0 = deterministic)")
    p.add_argument("--batch", type=int, default=1, help="number of images")
    p.add_argument("--width", type=int, help="image width in pixels (default: the model's resolution)")
    p.add_argument("--height", type=int, help="image height in pixels (default: the model's resolution)")
    p.add_argument("--out", type=Path, help="output folder (default: the history folder)")
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: the best available)")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), help="default: fp16 on CUDA, else fp32")
    p.add_argument("--quiet", action="store_true", help="print only the written file names")
    p.set_defaults(run=run)


def settings_from_args(args: argparse.Namespace, info: ModelInfo) -> SamplerSettings:
    d = info.defaults
    return SamplerSettings(
        sampler=args.sampler or d.sampler,
        steps=args.steps if args.steps is not None else d.steps,
        guidance=args.guidance if args.guidance is not None else d.guidance,
        eta=args.eta if args.eta is not None else d.eta,
        seed=args.seed if args.seed is not None else random_seed(),
        batch_size=args.batch,
        width=args.width or info.resolution,
        height=args.height or info.resolution,
    )


def condition_from_args(args: argparse.Namespace, info: ModelInfo) -> Condition:
    if info.family == "text":
        if args.prompt is None:
            raise RequestError("--prompt", "a text model needs a prompt")
        return TextCondition(args.prompt, args.negative)
    raise RequestError("--model", f"the {info.family!r} family cannot be run from the command line yet")


def run(args: argparse.Namespace) -> int:
    info = read_model_info(args.model)
    request = GenerationRequest(condition_from_args(args, info), settings_from_args(args, info))
    request.check_for(info)
    choice = choose_device(args.device, args.dtype)
    if choice.note and not args.quiet:
        print(choice.note, file=sys.stderr)
    engine = Engine(choice)
    engine.load(info.path)
    progress = _progress_bar(args.quiet)
    result = engine.generate(request, on_step=progress)
    out = args.out or history_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i, image in enumerate(result.images):
        recipe = request_recipe(request, engine.model.info, i, choice.label)
        path = write_png_atomic(out / f"{stamp}-{request.settings.seed + i}.png", image, recipe_text(recipe))
        print(path)
    if not args.quiet:
        print(
            f"{len(result.images)} image(s), {result.steps} steps in {result.seconds:.1f} s on {choice.label}",
            file=sys.stderr,
        )
    return 0


def _progress_bar(quiet: bool):
    if quiet:
        return None
    from tqdm import tqdm

    bar = None

    def on_step(event) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=event.total, unit="step", file=sys.stderr, leave=False)
        bar.update(1)
        if event.is_last:
            bar.close()

    return on_step
