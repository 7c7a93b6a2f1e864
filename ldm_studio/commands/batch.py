"""`ldm-studio batch SPEC [--model DIR] --out DIR`: run a batch spec headless, resumably (demo model by default).

`--workers N` spreads it over N engine processes of this machine, `--ray auto|ADDRESS` over
the actors of a Ray cluster; this process alone writes the folder either way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ldm_studio.commands.speed_options import add_speed_options, speed_from_args
from ldm_studio.core.generation.threads import check_threads, plan_threads

if TYPE_CHECKING:  # the real imports are in the functions: `--help` must not load torch
    from ldm_studio.core.batch import BatchProgress
    from ldm_studio.core.batch.workers import Backend
    from ldm_studio.core.generation.engine import Engine
    from ldm_studio.core.models.model_folder import ModelInfo


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "batch",
        help="make many images from a spec (JSON, JSONL or CSV rows, or a sweep); run again to resume",
    )
    p.add_argument("spec", type=Path, help="the batch spec file (.json, .jsonl, .csv)")
    p.add_argument("--model", help="model folder (default: the demo model shipped with LDM Studio, as for generate)")
    p.add_argument("--out", type=Path, required=True, help="output folder (holds the manifest; reuse it to resume)")
    p.add_argument("--seed", type=int, help="base seed for rows without one (row n gets base + n); random if omitted")
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: the best available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: every core)")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"))
    add_speed_options(p)  # applied in one worker process (the default on one device); spawned workers take none
    p.add_argument(
        "--workers",
        type=_worker_count,
        help="engine processes on this machine (default: one per GPU when there are several, else 1); "
        "with --ray: actors (default: one per GPU of the cluster, or one per node when it has none)",
    )
    p.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="run on a Ray cluster (auto: the running one, or a local one), one actor per GPU; "
        "needs pip install 'ldm-studio[cluster]'",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ldm_studio.core.batch import BatchRun, read_spec
    from ldm_studio.core.models.model_folder import read_model_info

    info = read_model_info(model_folder(args.model))
    spec = read_spec(args.spec)
    bar = None if args.quiet else _bar()
    engine, backend = _engine_or_backend(args, info)
    batch = BatchRun(engine, spec, args.out, base_seed=args.seed, on_progress=bar, backend=backend)
    for bad in batch.bad_rows:
        print(f"{spec.source.name}: {bad}", file=sys.stderr)
    report = batch.run()
    for failure in report.failed:
        print(f"{spec.source.name}: {failure}", file=sys.stderr)
    made = len(report.written)
    print(
        f"{made} image(s) written, {report.already_done} already done, {len(report.bad_rows)} bad row(s), "
        f"{len(report.failed)} failed; {report.total} planned, in {args.out}",
        file=sys.stderr,
    )
    if report.contact_sheet:
        print(f"contact sheet: {report.contact_sheet}", file=sys.stderr)
    return 0 if report.ok else 1


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers") from None
    if count < 1:
        raise argparse.ArgumentTypeError("needs at least 1 worker")
    return count


def _engine_or_backend(args: argparse.Namespace, info: ModelInfo) -> tuple[Engine | None, Backend | None]:
    """This process's engine (one worker), or the backend that holds the workers' engines."""
    from ldm_studio.core.batch.workers import ProcessBackend, default_worker_count, worker_devices
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine

    if args.ray:
        from ldm_studio.core.batch.ray_backend import RayBackend

        return None, RayBackend(str(info.path), info, args.ray, workers=args.workers, dtype=args.dtype)
    count = args.workers or default_worker_count(args.device)
    if count == 1:
        engine = Engine(
            choose_device(args.device, args.dtype), plan_threads(check_threads(args.threads)), speed_from_args(args)
        )
        engine.load(info.path)
        return engine, None
    return None, ProcessBackend(info, worker_devices(count, args.device), args.dtype)


def model_folder(model: str | None) -> Path:
    """`--model` as an absolute folder (the manifest's recipes name it), or the demo model when omitted."""
    from ldm_studio.core.errors import RequestError
    from ldm_studio.core.models.demo_model import demo_model_path

    if model is None:
        demo = demo_model_path()
        if demo is None:
            raise RequestError("--model", "no model given, and this installation has no demo model")
        return demo
    return Path(model).expanduser().resolve()


def _bar():
    from tqdm import tqdm

    state: dict = {}

    def on_progress(progress: BatchProgress) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=progress.total, initial=progress.done - 1, unit="img", file=sys.stderr)
        if len(progress.workers) > 1:
            bar.set_postfix_str(" | ".join(progress.workers), refresh=False)
        bar.update(progress.done - bar.n)
        if progress.done == progress.total:
            bar.close()

    return on_progress
