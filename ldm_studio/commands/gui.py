"""`ldm-studio gui` (and `ldm-studio` alone): open the window."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="open the window (the default)")
    parser.add_argument("--model", help="model folder to open")
    parser.add_argument(
        "--smoke-test", action="store_true", help="make one image with the default model, then exit (0 = it worked)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="smoke test time limit in seconds (300)")
    parser.set_defaults(run=lambda args: run_gui(gui_argv(args)))


def gui_argv(args: argparse.Namespace) -> list[str]:
    """The parsed options back as arguments for `run_app`."""
    argv = ["--model", args.model] if args.model else []
    if args.smoke_test:
        argv += ["--smoke-test", "--timeout", str(args.timeout)]
    return argv


def run_gui(argv: Sequence[str]) -> int:
    from ldm_studio.widgets.app import run_app

    return run_app(list(argv))
