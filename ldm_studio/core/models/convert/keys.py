"""Bookkeeping for a state-dict conversion: every source key consumed, every target filled, once.

A converter that silently skips a key leaves a randomly initialised weight in the model;
`KeyMap` makes that impossible to miss: `finish` lists leftovers and gaps by name.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ldm_studio.core.errors import ConversionError


class KeyMap:
    """Moves tensors from `source` (original names, prefix stripped) to target names."""

    def __init__(self, source: Mapping[str, torch.Tensor], what: str, file: object) -> None:
        self.source = dict(source)
        self.what = what
        self.file = file
        self.target: dict[str, torch.Tensor] = {}
        self.consumed: set[str] = set()

    def take(self, key: str) -> torch.Tensor:
        """The source tensor `key`, marked consumed; ConversionError if it is missing."""
        if key not in self.source:
            raise ConversionError(self.file, f"{self.what}: the checkpoint lacks {key!r}")
        self.consumed.add(key)
        return self.source[key]

    def has(self, key: str) -> bool:
        return key in self.source

    def put(self, target: str, tensor: torch.Tensor) -> None:
        if target in self.target:
            raise ConversionError(self.file, f"{self.what}: {target!r} would be filled twice")
        self.target[target] = tensor

    def move(self, source: str, target: str, squeeze_conv: bool = False) -> None:
        """Copy one tensor; `squeeze_conv` turns a 1×1 conv weight into a linear weight."""
        tensor = self.take(source)
        if squeeze_conv and tensor.ndim > 2:
            tensor = tensor.reshape(tensor.shape[0], tensor.shape[1])
        self.put(target, tensor)

    def move_prefix(self, source: str, target: str, names: tuple[str, ...] = ("weight", "bias")) -> None:
        """Move `source.<name>` → `target.<name>` for each name present (bias may be absent)."""
        found = False
        for name in names:
            if self.has(f"{source}.{name}"):
                self.move(f"{source}.{name}", f"{target}.{name}")
                found = True
        if not found:
            raise ConversionError(self.file, f"{self.what}: the checkpoint lacks {source}.*")

    def move_all_under(self, source: str, target: str) -> None:
        """Move every key under `source.` to the same relative name under `target.`."""
        prefix = source + "."
        keys = [k for k in self.source if k.startswith(prefix)]
        if not keys:
            raise ConversionError(self.file, f"{self.what}: the checkpoint lacks {source}.*")
        for key in keys:
            self.move(key, target + "." + key[len(prefix) :])

    def finish(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Check against `model`'s state dict (names and shapes) and load the tensors into it."""
        expected = model.state_dict()
        leftovers = sorted(set(self.source) - self.consumed)
        missing = sorted(set(expected) - set(self.target))
        unknown = sorted(set(self.target) - set(expected))
        problems = []
        if leftovers:
            problems.append(f"{len(leftovers)} original key(s) not converted: {_some(leftovers)}")
        if missing:
            problems.append(f"{len(missing)} parameter(s) not filled: {_some(missing)}")
        if unknown:
            problems.append(f"{len(unknown)} converted name(s) the model lacks: {_some(unknown)}")
        wrong = [
            f"{name} {tuple(self.target[name].shape)} vs {tuple(expected[name].shape)}"
            for name in sorted(set(self.target) & set(expected))
            if self.target[name].shape != expected[name].shape
        ]
        if wrong:
            problems.append(f"{len(wrong)} shape mismatch(es): {_some(wrong)}")
        if problems:
            raise ConversionError(self.file, f"{self.what}: " + "; ".join(problems))
        model.load_state_dict({k: v.to(expected[k].dtype) for k, v in self.target.items()}, strict=True)
        return self.target


def _some(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
