"""Out-of-memory handling in the worker: split a batch into single images to retry, then explain."""

from __future__ import annotations

from ldm_studio.core.memory import free_device_memory, is_out_of_memory  # noqa: F401 - re-exported
from ldm_studio.core.requests import GenerationRequest


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
