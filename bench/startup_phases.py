"""`ldm-studio generate` in this process with its phases timed: run as a script by bench_startup.

Wraps the engine's `load` and `generate` and the PNG writer, then calls the command line's
`main` as the `ldm-studio` command does (but returning: the JSON line comes after); prints one
JSON line of seconds: imports (every module import, wherever it happens: torch, diffusers and
the model classes are imported lazily, some inside the load), load, sample (prompt encoding,
denoising, decode) and write (PNGs with their recipes), each without the imports done inside
it, other (argument parsing, reading the model folder, ...), and the process CPU time.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import sys
import time

START = time.perf_counter()  # the interpreter's own start-up is counted apart, from outside


IMPORTS = {"seconds": 0.0, "depth": 0}


def _count_imports(inner):
    """Time the outermost imports (nested ones are inside them)."""

    def wrapper(*args, **kwargs):
        if IMPORTS["depth"]:
            return inner(*args, **kwargs)
        IMPORTS["depth"] += 1
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            IMPORTS["seconds"] += time.perf_counter() - start
            IMPORTS["depth"] -= 1

    return wrapper


def main(argv: list[str]) -> int:
    builtins.__import__ = _count_imports(builtins.__import__)
    importlib.import_module = _count_imports(importlib.import_module)
    marks: dict[str, float] = {}
    imported: dict[str, float] = {}

    def timed(owner, name: str, phase: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*args, **kwargs):
            start, before = time.perf_counter(), IMPORTS["seconds"]
            try:
                return inner(*args, **kwargs)
            finally:
                marks[phase] = marks.get(phase, 0.0) + time.perf_counter() - start
                imported[phase] = imported.get(phase, 0.0) + IMPORTS["seconds"] - before

        setattr(owner, name, wrapper)

    from ldm_studio import cli

    def instrument() -> None:  # after `quiet_libraries`, so the wrapped modules are imported where generate would
        from ldm_studio.core.files import outputs
        from ldm_studio.core.generation.engine import Engine

        timed(Engine, "load", "load")
        timed(Engine, "generate", "sample")
        timed(outputs, "save_images", "write")

    quiet = cli.quiet_libraries

    def quiet_then_instrument() -> None:
        quiet()
        instrument()

    cli.quiet_libraries = quiet_then_instrument
    code = cli.main(argv)
    end = time.perf_counter() - START
    cpu = os.times()
    phases = {phase: marks[phase] - imported[phase] for phase in ("load", "sample", "write")}
    figures = {"imports": IMPORTS["seconds"], **phases}
    figures["other"] = end - sum(figures.values())
    print(json.dumps({**figures, "in_process": end, "cpu": cpu.user + cpu.system, "code": code}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
