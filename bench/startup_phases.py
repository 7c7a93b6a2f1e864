"""`ldm-studio generate` in this process with its phases timed: run as a script by bench_startup.

Wraps the engine's `load` and `generate` and the PNG writer, then calls the command line's
`main` exactly as the `ldm-studio` command does; prints one JSON line of seconds since the
interpreter started: imports (everything before the model load: interpreter, imports,
argument parsing, reading the model folder), load, sample (prompt encoding, denoising,
decode), write (PNGs with their recipes), and the process CPU time.
"""

from __future__ import annotations

import json
import os
import sys
import time

START = time.perf_counter()  # the interpreter's own start-up is counted apart, from outside


def main(argv: list[str]) -> int:
    marks: dict[str, float] = {}

    def timed(owner, name: str, before: str, after: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*args, **kwargs):
            marks.setdefault(before, time.perf_counter() - START)
            try:
                return inner(*args, **kwargs)
            finally:
                marks[after] = time.perf_counter() - START

        setattr(owner, name, wrapper)

    from ldm_studio import cli

    def instrument() -> None:  # after `quiet_libraries`, so the wrapped modules are imported where generate would
        from ldm_studio.core.files import outputs
        from ldm_studio.core.generation.engine import Engine

        timed(Engine, "load", "load_start", "load_end")
        timed(Engine, "generate", "sample_start", "sample_end")
        timed(outputs, "save_images", "write_start", "write_end")

    quiet = cli.quiet_libraries

    def quiet_then_instrument() -> None:
        quiet()
        instrument()

    cli.quiet_libraries = quiet_then_instrument
    code = cli.main(argv)
    end = time.perf_counter() - START
    cpu = os.times()
    print(
        json.dumps(
            {
                "imports": marks["load_start"],
                "load": marks["load_end"] - marks["load_start"],
                "sample": marks["sample_end"] - marks["sample_start"],
                "write": marks["write_end"] - marks["write_start"],
                "in_process": end,
                "cpu": cpu.user + cpu.system,
                "code": code,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
