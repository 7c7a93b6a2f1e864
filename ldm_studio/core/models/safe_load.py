"""Reading checkpoints without ever running code that a pickle names.

A `.ckpt` is a pickle, and unpickling can call any importable function (`os.system`, ...).
So: `.safetensors` is read with safetensors; a pickle checkpoint first with
`torch.load(weights_only=True)`, and when that refuses because a Lightning checkpoint also
holds other objects (callbacks, hyper-parameters, optimizer classes), with a restricted
unpickler that resolves only torch's tensor-rebuild functions, dtypes and plain containers.
Every other global becomes an inert `Placeholder` that records its name and arguments and is
never called. A file that is nothing but such a call is rejected. Problems are
`CheckpointError`s naming the file.
"""

from __future__ import annotations

import collections
import pickle
import types
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ldm_studio.core.errors import CheckpointError, FileFormatError
from ldm_studio.core.files.untrusted import check_safetensors_header

PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin"}


@dataclass
class Checkpoint:
    """A checkpoint's tensors and what else it said (`global_step`), plus how it was read."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    global_step: int | None = None
    method: str = "weights_only"  # "safetensors", "weights_only" or "restricted"
    replaced: list[str] = field(default_factory=list)  # globals that became placeholders


class Placeholder:
    """Stands in for a global the restricted unpickler will not import. Calling it or building
    it only records the arguments, so a pickled `os.system("...")` becomes inert data."""

    __slots__ = ("args", "kwargs", "qualname", "state")

    def __init__(self, qualname: str, *args: Any, **kwargs: Any) -> None:
        self.qualname = qualname
        self.args = args
        self.kwargs = kwargs
        self.state: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Placeholder:
        return Placeholder(self.qualname + "()", *args, **kwargs)

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<not loaded: {self.qualname}>"


def _placeholder_class(qualname: str) -> type:
    """A class that pickle can instantiate (NEWOBJ/BUILD) without running anything of `qualname`."""

    def new(cls: type, *args: Any, **kwargs: Any) -> Placeholder:
        return Placeholder(qualname, *args, **kwargs)

    return type("Placeholder", (), {"__new__": new, "__slots__": (), "__repr__": lambda self: qualname})


def _rebuild_from_type_v2(func: Any, new_type: Any, args: tuple, state: Any) -> Any:
    """torch's subclass-tensor rebuild, allowed only for plain tensors and parameters."""
    if new_type not in (torch.Tensor, torch.nn.Parameter) or not callable(func) or isinstance(func, Placeholder):
        return Placeholder("torch._tensor._rebuild_from_type_v2", new_type, args)
    result = func(*args)
    if new_type is torch.nn.Parameter and not isinstance(result, torch.nn.Parameter):
        result = torch.nn.Parameter(result, requires_grad=False)
    return result


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): torch.Tensor,
    ("torch._tensor", "Tensor"): torch.Tensor,
    ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
    ("torch", "Size"): torch.Size,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "list"): list,
    ("builtins", "dict"): dict,
    ("builtins", "tuple"): tuple,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only ALLOWED_GLOBALS and torch dtypes; everything else is a placeholder class."""

    replaced: list[str]

    def find_class(self, module: str, name: str) -> Any:
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is not None:
            return allowed
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        qualname = f"{module}.{name}"
        if not hasattr(self, "replaced"):
            self.replaced = []
        self.replaced.append(qualname)
        _REPLACED.append(qualname)
        return _placeholder_class(qualname)


_REPLACED: list[str] = []  # the globals replaced during the current restricted load


def _restricted_load(file: Any, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


RESTRICTED_PICKLE = types.ModuleType("ldm_studio_restricted_pickle")
RESTRICTED_PICKLE.Unpickler = RestrictedUnpickler  # type: ignore[attr-defined]
RESTRICTED_PICKLE.load = _restricted_load  # type: ignore[attr-defined]
RESTRICTED_PICKLE.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The tensors of a `.safetensors` or pickle checkpoint (Lightning `{'state_dict': ...}` or a bare dict)."""
    file = Path(path).expanduser()
    if not file.exists():
        raise CheckpointError(file, "no such file")
    if not file.is_file():
        raise CheckpointError(file, "is not a file")
    if file.suffix == ".safetensors":
        return Checkpoint(file, read_safetensors(file), method="safetensors")
    kind = _sniff(file)
    if kind == "safetensors":
        return Checkpoint(file, read_safetensors(file), method="safetensors")
    try:
        replaced: list[str] = []
        data = torch.load(file, map_location="cpu", weights_only=True, mmap=kind == "zip")
        method = "weights_only"
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower() and "weights_only" not in str(exc).lower():
            raise CheckpointError(file, f"is not a readable checkpoint ({_first_line(exc)})") from None
        data, replaced = _load_restricted(file, kind)
        method = "restricted"
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, IndexError, TypeError) as exc:
        raise CheckpointError(file, f"is truncated or not a checkpoint ({_first_line(exc)})") from None
    return _to_checkpoint(file, data, method, replaced)


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Only the tensors of a checkpoint, safely (see `read_checkpoint`)."""
    return read_checkpoint(path).state_dict


def read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:  # declared sizes against the file's size first: a sparse header must not reach the allocator
        check_safetensors_header(file)
    except FileFormatError as exc:
        raise CheckpointError(file, f"is not a readable safetensors file ({exc.problem})") from None
    try:
        return load_file(str(file), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(file, f"is not a readable safetensors file ({_first_line(exc)})") from None


def _sniff(file: Path) -> str:
    """ "zip" (torch ≥ 1.6), "legacy" (an older torch pickle) or "safetensors"; CheckpointError otherwise."""
    with file.open("rb") as handle:
        head = handle.read(16)
    if not head:
        raise CheckpointError(file, "is empty")
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(file):
            raise CheckpointError(file, "is truncated or damaged (its zip directory is missing)")
        return "zip"
    if head[0] == 0x80 and len(head) > 1 and head[1] <= 5:  # pickle PROTO opcode
        return "legacy"
    if len(head) >= 9 and head[8:9] == b"{":  # safetensors: 8-byte header length, then JSON
        return "safetensors"
    shown = head[:8].decode("ascii", "replace").replace("\n", " ")
    raise CheckpointError(file, f"is not a PyTorch checkpoint (it starts with {shown!r})")


def _load_restricted(file: Path, kind: str) -> tuple[Any, list[str]]:
    _REPLACED.clear()
    try:
        data = torch.load(
            file, map_location="cpu", weights_only=False, pickle_module=RESTRICTED_PICKLE, mmap=kind == "zip"
        )
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(file, f"is truncated or not a checkpoint ({_first_line(exc)})") from None
    except TypeError as exc:  # a placeholder used where torch needed a real object
        raise CheckpointError(file, f"holds objects that cannot be loaded safely ({_first_line(exc)})") from None
    replaced = sorted(set(_REPLACED))
    _REPLACED.clear()
    return data, replaced


def _to_checkpoint(file: Path, data: Any, method: str, replaced: list[str]) -> Checkpoint:
    if isinstance(data, (Placeholder, type)) or type(data).__name__ == "Placeholder":
        raise CheckpointError(
            file, f"is not a checkpoint: it is a pickled call to {', '.join(replaced) or repr(data)} (not run)"
        )
    if not isinstance(data, Mapping):
        raise CheckpointError(file, f"is not a checkpoint: it holds a {type(data).__name__}, not a dict of tensors")
    state = data.get("state_dict", data)
    if not isinstance(state, Mapping):
        raise CheckpointError(file, "its 'state_dict' is not a dict of tensors")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    others = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not tensors:
        raise CheckpointError(file, "holds no tensors")
    if others and "state_dict" in data:
        raise CheckpointError(file, f"its state_dict holds non-tensor entries: {', '.join(others[:5])}")
    step = data.get("global_step") if "state_dict" in data else None
    return Checkpoint(file, tensors, step if isinstance(step, int) else None, method, replaced)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
