"""Where sampling runs: CUDA (fp16), MPS, or the CPU, chosen once per engine.

On the CPU two settings matter a lot (measured while planning): flushing denormals, which
random and barely trained weights produce (8.3 s → 1.0 s on a 20-step run), and the thread
count (`core.generation.threads`: every core when headless). Both are per thread, so `prepare_thread`
runs in the thread that samples. On CUDA, fp32 matmuls and convolutions may use TF32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.generation.threads import ThreadPlan, apply_threads, plan_threads

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class DeviceChoice:
    """The torch device and dtype to sample with, and a note to show the person, if any."""

    device: torch.device
    dtype: torch.dtype
    note: str = ""

    @property
    def label(self) -> str:
        name = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[self.dtype]
        return f"{self.device.type} ({name})"


def choose_device(requested: str | None = None, dtype: str | None = None) -> DeviceChoice:
    """Pick the device: `requested` ("cuda", "cuda:1", "mps", "cpu") or the best available."""
    if dtype is not None and dtype not in DTYPES:
        raise LdmStudioError(f"--dtype: unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    note = ""
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            device = torch.device("cuda")
        elif _mps_available():
            device = torch.device("mps")
        else:
            device = torch.device("cpu")
            note = "No GPU found (CUDA or MPS); running on the CPU, which is slow for large models."
    else:
        try:
            device = torch.device(requested)
        except RuntimeError as exc:
            raise LdmStudioError(f"--device: {requested!r} is not a device ({exc})") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise LdmStudioError(f"--device: {requested!r} asked for, but CUDA is not available here")
        if device.type == "mps" and not _mps_available():
            raise LdmStudioError(f"--device: {requested!r} asked for, but MPS is not available here")
    if dtype is None:
        # fp16 halves memory and time on CUDA; MPS and the CPU are safer (and on the CPU faster) in fp32.
        chosen = torch.float16 if device.type == "cuda" else torch.float32
    else:
        chosen = DTYPES[dtype]
    return DeviceChoice(device, chosen, note)


def prepare_thread(choice: DeviceChoice, threads: ThreadPlan | None = None) -> None:
    """Per-thread torch settings for the thread that will sample (threads: headless by default)."""
    if choice.device.type == "cpu":
        torch.set_flush_denormal(True)
    # CPU work remains on a GPU (encoding, the preview projection): the plan applies everywhere
    apply_threads(threads or plan_threads())
    if choice.device.type == "cuda":
        # TF32 for fp32 matmuls and convolutions (Ampere and later): ~8× the fp32 rate, fp16 unaffected
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
