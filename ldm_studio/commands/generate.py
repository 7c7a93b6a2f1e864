"""`ldm-studio generate`: sample images from a model folder and write them as PNGs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ldm_studio.core.conditions import condition_from_inputs
from ldm_studio.core.demo_model import demo_model_path
from ldm_studio.core.device import choose_device
from ldm_studio.core.engine import Engine
from ldm_studio.core.errors import RequestError
from ldm_studio.core.model_folder import ModelInfo, read_model_info
from ldm_studio.core.outputs import save_images
from ldm_studio.core.requests import (
    Condition,
    GenerationRequest,
    SamplerSettings,
    random_seed,
)
from ldm_studio.core.samplers import SAMPLER_NAMES
from ldm_studio.core.store import history_dir
from ldm_studio.core.threads import check_threads, plan_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("generate", help="make images from the command line")
    p.add_argument(
        "--model",
        help="model folder (ldm_studio.json or a diffusers repo), or an original CompVis .ckpt with --config "
        "(default: the demo model shipped with LDM Studio)",
    )
    p.add_argument("--config", type=Path, help="the original .yaml of a .ckpt given as --model (converted once)")
    p.add_argument("--tokenizer", type=Path, help="bert-base-uncased tokenizer folder, for converting a text .ckpt")
    p.add_argument("--prompt", help="text prompt (text models)")
    p.add_argument(
        "--class",
        dest="classes",
        action="append",
        metavar="N",
        help="class index or ImageNet name (class models); repeat or comma-separate to give one per image",
    )
    p.add_argument("--map", type=Path, help="semantic map: PNG of label indices, or RGB in the label palette")
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
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: every core)")
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
    return condition_from_inputs(
        info,
        prompt=args.prompt,
        negative=args.negative,
        classes=args.classes,
        map_path=args.map,
        option_prefix="--",
    )


def resolve_model(args: argparse.Namespace) -> Path:
    """A model folder for `--model`: the folder itself, a .ckpt converted once into the store, or the demo model."""
    if args.model is None:
        if args.config is not None:
            raise RequestError("--model", "--config needs the original .ckpt given as --model")
        demo = demo_model_path()
        if demo is None:
            raise RequestError("--model", "no model given, and this installation has no demo model")
        return demo
    model = Path(args.model).expanduser()
    if model.is_file() or args.config is not None:
        from ldm_studio.core.convert.into_store import convert_into_store

        if args.config is None:
            raise RequestError("--config", f"{model.name} is a checkpoint file: give its original .yaml with --config")
        bar = None if args.quiet else _conversion_bar()
        return convert_into_store(model, args.config, tokenizer=args.tokenizer, progress=bar)
    return model


def run(args: argparse.Namespace) -> int:
    info = read_model_info(resolve_model(args))
    request = GenerationRequest(condition_from_args(args, info), settings_from_args(args, info))
    request.check_for(info)
    choice = choose_device(args.device, args.dtype)
    if choice.note and not args.quiet:
        print(choice.note, file=sys.stderr)
    engine = Engine(choice, plan_threads(check_threads(args.threads)))
    engine.load(info.path)
    progress = _progress_bar(args.quiet)
    result = engine.generate(request, on_step=progress)
    for path in save_images(result.images, request, engine.model.info, args.out or history_dir(), device=choice.label):
        print(path)
    if not args.quiet:
        print(
            f"{len(result.images)} image(s), {result.steps} steps in {result.seconds:.1f} s on {choice.label}",
            file=sys.stderr,
        )
    return 0


def _conversion_bar():
    def report(message: str, fraction: float) -> None:
        print(f"\rconverting: {message:<40} {fraction * 100:5.1f}%", end="", file=sys.stderr, flush=True)
        if fraction >= 1.0:
            print(file=sys.stderr)

    return report


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
