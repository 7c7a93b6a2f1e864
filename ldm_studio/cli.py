"""`ldm-studio`: no subcommand opens the window; subcommands do headless work.

Every subcommand lives in `ldm_studio/commands/` with a `register(subparsers)` function.
Errors meant for people (`LdmStudioError`) print as one line and exit with status 2.
Importing this module (and so `--help`, `--version` and argument errors) must stay fast: the
command modules import torch, diffusers and Qt only inside the functions that run them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from collections.abc import Iterator, Sequence

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
    """Run the command line; `argv` None means this process is `ldm-studio` itself (see `_exit_now`)."""
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.command is None:
        from ldm_studio.commands.gui import run_gui

        return run_gui([])
    one_shot = bool(getattr(args, "one_shot", False))  # runs once and ends (generate): see _collector_paused
    with _collector_paused(one_shot):
        if getattr(args, "uses_libraries", True):  # a light command (`models list`) must not import them to quiet them
            quiet_libraries()
        try:
            code = int(args.run(args) or 0)
        except LdmStudioError as exc:
            print(f"ldm-studio {args.command}: error: {exc}", file=sys.stderr)
            code = 2
        except KeyboardInterrupt:
            print(f"ldm-studio {args.command}: interrupted", file=sys.stderr)
            code = 130
    if argv is None and one_shot:
        _exit_now(code)
    return code


@contextlib.contextmanager
def _collector_paused(paused: bool) -> Iterator[None]:
    """No cyclic garbage collection while a one-shot command runs (restored after, for callers of `main`).

    Importing torch, diffusers and transformers creates millions of long-lived objects, and the
    collector walks them again and again while they are created: about 0.5 s of CPU of a
    `generate` on the demo model, for nothing (they all live until the process ends). One
    generation makes little cyclic garbage; a long-running command (batch, the window) keeps it.
    """
    if not paused or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown, once a command that opted in has finished.

    With torch, diffusers and transformers loaded (about 2,800 modules), Python's own shutdown
    (module teardown, the last garbage collections) costs about a second of CPU on this
    machine: an eighth of `ldm-studio generate` on the demo model. The command's files are
    written and closed by then; what the skipped shutdown would still do is done here: the
    standard streams are flushed and the log handlers closed. Only when `ldm-studio` is the
    process (`main()` without arguments), never for a caller of `main(argv)`.
    """
    import logging
    import os

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing more can be said there
            stream.flush()
    logging.shutdown()
    os._exit(code)


def gui_main() -> int:
    """Entry point of the windowed launcher (`gui-scripts`, no console on Windows)."""
    from ldm_studio.commands.gui import run_gui

    return run_gui(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
