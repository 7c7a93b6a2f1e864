"""`ldm-studio convert`: an original CompVis `.ckpt` + `.yaml` → an LDM Studio model folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ldm_studio.core.generation.threads import apply_threads, check_threads, plan_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("convert", help="convert an original CompVis checkpoint into a model folder")
    p.add_argument("--config", type=Path, required=True, help="the original config .yaml")
    p.add_argument("--checkpoint", type=Path, required=True, help="the original model.ckpt (or .safetensors)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write (must not exist or be empty)")
    p.add_argument("--tokenizer", type=Path, help="bert-base-uncased tokenizer folder (text models only)")
    p.add_argument("--name", help="display name of the model (default: from the checkpoint's name)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model folder")
    p.add_argument(
        "--weights",
        choices=("auto", "ema", "raw"),
        default="auto",
        help="U-Net weights: as the original code samples (auto: EMA when the config's use_ema is on and the "
        "checkpoint has them), or force EMA / raw",
    )
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: every core)")
    p.add_argument("--quiet", action="store_true", help="print only the written folder")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    apply_threads(plan_threads(check_threads(args.threads)))
    from ldm_studio.core.models.convert import convert_checkpoint

    def progress(message: str, fraction: float) -> None:
        if not args.quiet:
            print(f"{fraction * 100:5.1f}%  {message}", file=sys.stderr)

    result = convert_checkpoint(
        args.config,
        args.checkpoint,
        args.out,
        tokenizer=args.tokenizer,
        progress=progress,
        name=args.name,
        overwrite=args.overwrite,
        weights=args.weights,
    )
    if not args.quiet:
        info = result.info
        weights = "EMA" if result.ema_used else "raw"
        print(
            f"{info.family} model, {info.resolution}px, {weights} U-Net weights; "
            f"defaults: {info.defaults.steps} {info.defaults.sampler} steps, guidance {info.defaults.guidance}",
            file=sys.stderr,
        )
    print(args.out)
    return 0
