"""`ldm-studio eval-demo`: measure how well the demo model follows its inputs (classes, captions, maps)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval-demo", help="judge the demo model's class, caption and map following with a scene classifier/segmenter"
    )
    p.add_argument("--model", type=Path, help="model folder (default: the demo model shipped with LDM Studio)")
    p.add_argument("--count", type=int, default=200, help="images generated per input kind (default 200)")
    p.add_argument("--seed", type=int, default=0, help="first seed of the generations")
    p.add_argument(
        "--retrain-judges",
        type=Path,
        metavar="FOLDER",
        help="train the classifier and segmenter afresh (deterministic) and write them to FOLDER first",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ldm_studio.core.errors import RequestError
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import load_model
    from ldm_studio.core.models.demo_model import demo_model_path
    from ldm_studio.demo.evaluate import Judges, evaluate, train_judges

    if args.count < 1:
        raise RequestError("--count", "must be at least 1")
    folder = args.model or demo_model_path()
    if folder is None:
        raise RequestError("--model", "no model given, and this installation has no demo model")
    start = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - start:6.0f} s] {message}", file=sys.stderr, flush=True)

    if args.retrain_judges is not None:
        judges = train_judges(progress=say)
        judges.save(args.retrain_judges)
    else:
        try:
            judges = Judges.load()
        except ValueError as exc:
            raise RequestError("--retrain-judges", f"{exc}; train them with --retrain-judges FOLDER") from exc
    model = load_model(Path(folder).expanduser().resolve(), choose_device(None))
    for line in evaluate(model, judges, args.count, seed=args.seed, progress=say).lines():
        print(line)
    return 0
