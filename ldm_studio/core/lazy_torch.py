"""torch's gradient switch-off as a decorator that imports torch only when the function runs.

The family modules register their `FamilySpec` when imported, and the registry is asked by
commands that never sample (`models list`, catalogue checks, `--help`): importing a family
module must not cost the seconds of `import torch`. `@torch.no_grad()` on a method would import
it at class definition; `@no_grad` does the same thing at call time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def no_grad(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` run under `torch.no_grad()` (what `@torch.no_grad()` does to a plain function)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import torch

        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper
