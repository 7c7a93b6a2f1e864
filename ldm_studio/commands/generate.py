"""`ldm-studio generate`: sample images from a model folder and write them as PNGs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ldm_studio.commands.speed_options import add_speed_options, speed_from_args
from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.condition_types import INPUTS
from ldm_studio.core.generation.sampler_names import SAMPLER_NAMES
from ldm_studio.core.generation.threads import check_threads, plan_threads
from ldm_studio.core.models.demo_model import demo_model_path

if TYPE_CHECKING:  # the real imports are in the functions: `--help` must not load torch
    from ldm_studio.core.generation.engine import Engine
    from ldm_studio.core.generation.image_inputs import InitImage
    from ldm_studio.core.generation.requests import Condition, GenerationRequest, SamplerSettings
    from ldm_studio.core.models.model_folder import ModelInfo


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("generate", help="make images from the command line")
    p.add_argument(
        "--model",
        help="model folder (ldm_studio.json or a diffusers repo), or an original CompVis .ckpt with --config "
        "(default: the demo model shipped with LDM Studio)",
    )
    p.add_argument("--config", type=Path, help="the original .yaml of a .ckpt given as --model (converted once)")
    p.add_argument("--tokenizer", type=Path, help="bert-base-uncased tokenizer folder, for converting a text .ckpt")
    for spec in INPUTS.values():  # the named inputs every condition type declares
        p.add_argument(f"--{spec.name}", help=spec.help, **spec.cli)
    p.add_argument("--seed", type=int, help="seed of the first image (image i uses seed + i); random if omitted")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--sampler", choices=SAMPLER_NAMES, help="sampler (default: the model's)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (1 = none)")
    p.add_argument(
        "--guidance-schedule",
        metavar="TEXT",
        help='guidance that changes during the run: "7.5 [0.5] 3" (7.5 for the first half, then 3; '
        "[0.5] is a fraction of the steps, [12] a step number). Prompts take the same [when] switch "
        '("a forest [0.4] a burning forest") and A1111\'s [from:to:when]',
    )
    p.add_argument("--eta", type=float, help="DDIM eta (0 = deterministic)")
    p.add_argument("--batch", type=int, default=1, help="number of images")
    p.add_argument("--width", type=int, help="image width in pixels (default: the model's resolution)")
    p.add_argument("--height", type=int, help="image height in pixels (default: the model's resolution)")
    p.add_argument("--out", type=Path, help="output folder (default: the history folder)")
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: the best available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: every core)")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), help="default: fp16 on CUDA, else fp32")
    add_speed_options(p)
    p.add_argument(
        "--trajectory",
        type=Path,
        metavar="FILE",
        help="also write every denoising step: an animated .gif or .webp, or a .png strip (one frame per step)",
    )
    p.add_argument(
        "--trajectory-frames",
        choices=("decoded", "preview"),
        default="decoded",
        help="trajectory frames: each step's prediction fully decoded (default), or the cheap preview (fast)",
    )
    p.add_argument("--quiet", action="store_true", help="print only the written file names")
    p.set_defaults(run=run, one_shot=True)  # no cyclic GC while it runs, no interpreter teardown after (cli.py)


def settings_from_args(
    args: argparse.Namespace, info: ModelInfo, size: tuple[int, int] | None = None
) -> SamplerSettings:
    """Settings from the options; an unset width/height is `size` (what a picture input implies), else the model's."""
    from ldm_studio.core.generation.requests import SamplerSettings, check_guidance_cap, random_seed
    from ldm_studio.core.generation.schedules import parse_guidance

    if args.guidance is not None:
        check_guidance_cap(args.guidance, "--guidance")
    schedule = getattr(args, "guidance_schedule", None) or ""
    first = None
    if schedule:
        values = parse_guidance(schedule, "--guidance-schedule").values
        for value in values:
            check_guidance_cap(value, "--guidance-schedule")
        first = values[0]  # `guidance` is the first scale, for tools that read one number
    d = info.defaults
    width, height = size or (info.resolution, info.resolution)
    return SamplerSettings(
        sampler=args.sampler or d.sampler,
        steps=args.steps if args.steps is not None else d.steps,
        guidance=args.guidance if args.guidance is not None else first if first is not None else d.guidance,
        eta=args.eta if args.eta is not None else d.eta,
        seed=args.seed if args.seed is not None else random_seed(),
        batch_size=args.batch,
        width=args.width if args.width is not None else width,  # --width 0 is an error, not "default"
        height=args.height if args.height is not None else height,
        guidance_schedule=schedule,
    )


def _input_values(args: argparse.Namespace) -> dict:
    return {name: getattr(args, spec.cli.get("dest", name)) for name, spec in INPUTS.items()}


def condition_from_args(args: argparse.Namespace, info: ModelInfo) -> Condition:
    from ldm_studio.core.generation.conditions import condition_from_values

    return condition_from_values(info, _input_values(args), option_prefix="--")


def init_from_args(args: argparse.Namespace, info: ModelInfo) -> InitImage | None:
    """The image-to-image start of `--image/--mask/--strength` (None for superres/inpaint models)."""
    from ldm_studio.core.generation.conditions import init_from_values

    return init_from_values(info, _input_values(args), option_prefix="--")


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
        from ldm_studio.core.models.convert.into_store import convert_into_store

        if args.config is None:
            raise RequestError("--config", f"{model.name} is a checkpoint file: give its original .yaml with --config")
        bar = None if args.quiet else _conversion_bar()
        return convert_into_store(model, args.config, tokenizer=args.tokenizer, progress=bar)
    return model.resolve()  # absolute: the recipe in every PNG names the model's folder


def run(args: argparse.Namespace) -> int:
    from ldm_studio.core.files.outputs import check_output_folder, save_images
    from ldm_studio.core.files.store import history_dir
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine
    from ldm_studio.core.generation.image_inputs import default_size, resize_notes
    from ldm_studio.core.generation.limits import check_fits
    from ldm_studio.core.generation.memory import sample_with_retry
    from ldm_studio.core.generation.requests import GenerationRequest
    from ldm_studio.core.generation.schedules import parse_guidance
    from ldm_studio.core.models.model_folder import read_model_info

    info = read_model_info(resolve_model(args))
    condition, init = condition_from_args(args, info), init_from_args(args, info)
    request = GenerationRequest(condition, settings_from_args(args, info, default_size(info, condition, init)), init)
    request.check_for(info)
    if not args.quiet:
        for note in resize_notes(request, info):
            print(f"note: {note}", file=sys.stderr)
        for hint in request.condition.schedule_hints(request.settings.steps):
            print(f"schedule: {hint}", file=sys.stderr)
        if request.settings.guidance_schedule:
            schedule = parse_guidance(request.settings.guidance_schedule)
            print(f"schedule: {schedule.hint(request.settings.steps)}", file=sys.stderr)
    if args.trajectory is not None and args.trajectory.suffix.lower() not in (".gif", ".webp", ".png"):
        raise RequestError("--trajectory", f"{args.trajectory.name}: write .gif, .webp (animated) or .png (a strip)")
    choice = choose_device(args.device, args.dtype)
    check_fits(request.settings, choice.device)
    history = history_dir()
    out = check_output_folder(args.out or history)  # before sampling: a bad --out costs nothing
    if choice.note and not args.quiet:
        print(choice.note, file=sys.stderr)
    engine = Engine(choice, plan_threads(check_threads(args.threads)), speed_from_args(args))
    engine.load(info.path)
    if not args.quiet:
        for note in engine.load_notes[1:]:  # the first says the attention kernel: the log has it
            print(f"note: {note}", file=sys.stderr)
    progress = _progress_bar(args.quiet)
    on_step, trajectory = progress, None
    if args.trajectory is not None:
        on_step, trajectory = _keep_trajectory(engine, request, progress, args.trajectory_frames == "preview")
    results = []

    def sample(part_request: GenerationRequest, part: int, parts: int):
        results.append(engine.generate(part_request, on_step=on_step))
        return results[-1].images

    images = sample_with_retry(request, choice.label, sample)  # out of memory: image by image, as the window does

    def moved(folder: Path, exc: OSError) -> None:
        print(
            f"ldm-studio generate: cannot write to {out} ({exc.strerror or exc}); saving to {folder} instead",
            file=sys.stderr,
        )

    for path in save_images(
        images, request, engine.model.info, out, device=choice.label, fallback=history, on_fallback=moved
    ):
        print(path)
    if trajectory is not None:
        print(_write_trajectory(engine, trajectory, args, images))
    if not args.quiet:
        steps, seconds = results[-1].steps, sum(r.seconds for r in results)
        print(f"{len(images)} image(s), {steps} steps in {seconds:.1f} s on {choice.label}", file=sys.stderr)
    return 0


def _keep_trajectory(engine: Engine, request: GenerationRequest, progress, previews: bool):
    """A step callback that keeps every step (previews: their cheap projection only) and the trajectory."""
    from ldm_studio.core.generation.previews import linear_preview_for
    from ldm_studio.core.generation.trajectory import Trajectory

    trajectory = Trajectory(0, request)
    projection = linear_preview_for(engine.model) if previews else None

    def on_step(event) -> None:
        thumbnail = projection.project(event.x0).numpy() if projection is not None else None
        trajectory.record(event, thumbnail)
        if progress is not None:
            progress(event)

    return on_step, trajectory


def _write_trajectory(engine: Engine, trajectory, args: argparse.Namespace, images) -> Path:
    """The kept steps as one animation or strip at the image size; the last frame is the finished image."""
    from ldm_studio.core.generation.previews import decode_preview
    from ldm_studio.core.generation.trajectory import export_frames, grid

    decode = None if args.trajectory_frames == "preview" else (lambda x0: decode_preview(engine.model, x0))
    final = grid(images)
    frames = trajectory.frames(decode, size=(final.shape[1], final.shape[0]))
    frames[-1] = final
    return export_frames(frames, args.trajectory)


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
