"""`ldm-studio gui` (and `ldm-studio` alone): open the window."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="open the window (the default)")
    parser.add_argument("--model", help="model folder to open")
    parser.set_defaults(run=lambda args: run_gui(["--model", args.model] if args.model else []))


def run_gui(argv: Sequence[str]) -> int:
    from ldm_studio.widgets.app import run_app

    return run_app(list(argv))
