"""`ldm-studio`: no subcommand opens the window; subcommands do headless work.

Every subcommand lives in `ldm_studio/commands/` with a `register(subparsers)` function.
Errors meant for people (`LdmStudioError`) print as one line and exit with status 2.
Importing this module (and so `--help`, `--version` and argument errors) must stay fast: the
command modules import torch, diffusers and Qt only inside the functions that run them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ldm_studio import __version__
from ldm_studio.app_log import setup_logging
from ldm_studio.commands import COMMANDS
from ldm_studio.core.errors import LdmStudioError
from ldm_studio.quiet import quiet_libraries


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ldm-studio",
        description="Latent Diffusion Models on your desk. Without a subcommand, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.command is None:
        from ldm_studio.commands.gui import run_gui

        return run_gui([])
    if getattr(args, "uses_libraries", True):  # a light command (`models list`) must not import them to quiet them
        quiet_libraries()
    try:
        return int(args.run(args) or 0)
    except LdmStudioError as exc:
        print(f"ldm-studio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ldm-studio {args.command}: interrupted", file=sys.stderr)
        return 130


def gui_main() -> int:
    """Entry point of the windowed launcher (`gui-scripts`, no console on Windows)."""
    from ldm_studio.commands.gui import run_gui

    return run_gui(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
