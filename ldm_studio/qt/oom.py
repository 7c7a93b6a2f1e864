"""Out-of-memory handling: recognise it, and split a batch into single images to retry."""

from __future__ import annotations

import dataclasses

import torch

from ldm_studio.core.requests import ClassCondition, GenerationRequest


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError that MPS and older torch raise."""
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_device_memory() -> None:
    """Return cached blocks to the driver so the retry starts from a clean allocator."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def single_image_requests(request: GenerationRequest) -> list[GenerationRequest]:
    """Image i of a batch as its own request: seed + i, and its own class if classes vary per image.

    Image i does not depend on the batch size (the loop seeds each image separately), so the
    split batch gives the same pictures.
    """
    settings = request.settings
    parts = []
    for i in range(settings.batch_size):
        condition = request.condition
        if isinstance(condition, ClassCondition):
            condition = ClassCondition((condition.for_batch(settings.batch_size)[i],))
        single = dataclasses.replace(settings, seed=settings.seed + i, batch_size=1)
        parts.append(GenerationRequest(condition, single))
    return parts


def explain_out_of_memory(request: GenerationRequest, device: str, split: bool) -> str:
    s = request.settings
    tried = " It was also tried one image at a time." if split else ""
    return (
        f"Out of memory on {device} at {s.width}×{s.height}, batch {s.batch_size}.{tried} "
        "Try a smaller size or batch, or close other programs using the GPU."
    )
