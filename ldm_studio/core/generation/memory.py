"""Out-of-memory: recognising it on any device, giving the allocator's cache back, and the one retry policy.

`sample_with_retry` is what the CLI, the batch runner and the window's worker all do when a
device runs out of memory: free the cache, run the batch again one image at a time (the same
pictures: image i is seed + i alone), and if that fails too, say what to change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.generation.requests import GenerationRequest

SampleFn = Callable[[GenerationRequest, int, int], np.ndarray]  # (request, part, parts) -> (B, H, W, 3) images


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError that MPS and older torch raise."""
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_device_memory() -> None:
    """Return cached blocks to the driver so a retry starts from a clean allocator."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.empty_cache()


def single_image_requests(request: GenerationRequest) -> list[GenerationRequest]:
    """The batch split into its images (seed + i, each its own class): the same pictures, less memory."""
    return [request.for_image(i) for i in range(request.settings.batch_size)]


def explain_out_of_memory(request: GenerationRequest, device: str, split: bool) -> str:
    s = request.settings
    tried = " It was also tried one image at a time." if split else ""
    return (
        f"Out of memory on {device} at {s.width}×{s.height}, batch {s.batch_size}.{tried} "
        "Try a smaller size or batch, or close other programs using the GPU."
    )


def sample_with_retry(request: GenerationRequest, device: str, sample: SampleFn) -> np.ndarray:
    """`sample(request, 0, 1)`; out of memory, once more image by image (`sample(image_i, i, n)`), then explain."""
    try:
        return sample(request, 0, 1)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        free_device_memory()
        if request.settings.batch_size == 1:
            raise LdmStudioError(explain_out_of_memory(request, device, split=False)) from exc
    parts = single_image_requests(request)
    try:
        images = [sample(part, i, len(parts)) for i, part in enumerate(parts)]
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        free_device_memory()
        raise LdmStudioError(explain_out_of_memory(request, device, split=True)) from exc
    return np.concatenate(images)
