"""`ldm-studio batch SPEC --model DIR --out DIR`: run a batch spec headless, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ldm_studio.core.batch import BatchProgress, BatchRun, read_spec
from ldm_studio.core.device import choose_device
from ldm_studio.core.engine import Engine
from ldm_studio.core.model_folder import read_model_info
from ldm_studio.core.threads import check_threads, plan_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "batch",
        help="make many images from a spec (JSON, JSONL or CSV rows, or a sweep); run again to resume",
    )
    p.add_argument("spec", type=Path, help="the batch spec file (.json, .jsonl, .csv)")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--out", type=Path, required=True, help="output folder (holds the manifest; reuse it to resume)")
    p.add_argument("--seed", type=int, help="base seed for rows without one (row n gets base + n); random if omitted")
    p.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: the best available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: every core)")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    info = read_model_info(args.model)
    spec = read_spec(args.spec)
    choice = choose_device(args.device, args.dtype)
    engine = Engine(choice, plan_threads(check_threads(args.threads)))
    engine.load(info.path)
    bar = None if args.quiet else _bar()
    batch = BatchRun(engine, spec, args.out, base_seed=args.seed, on_progress=bar)
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


def _bar():
    from tqdm import tqdm

    state: dict = {}

    def on_progress(progress: BatchProgress) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=progress.total, initial=progress.done - 1, unit="img", file=sys.stderr)
        bar.update(progress.done - bar.n)
        if progress.done == progress.total:
            bar.close()

    return on_progress
