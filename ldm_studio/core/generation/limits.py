"""Refusing a request that cannot fit in the device's memory, before any model work allocates it.

A 16384×16384 request passes the per-field checks but would ask the allocator for hundreds of
gigabytes halfway through sampling; the estimate here says so first, as one line naming the
size. It is deliberately rough (the decoder's activations at full resolution dominate) and
errs on the side of letting a request run: only a request over the device's total memory is
refused outright.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.requests import SamplerSettings

if TYPE_CHECKING:  # torch is imported only when a device is asked about (`import ldm_studio.cli` stays light)
    import torch

# Peak bytes per output pixel of one image: the autoencoder's decoder at full resolution holds
# a few 128-channel fp32 activations (CompVis f4/f8 decoders); measured 512x512 decodes peak near
# 0.4 GB on the CPU, so 1 KiB per pixel is an upper-middle estimate.
BYTES_PER_PIXEL = 1024


def estimated_bytes(settings: SamplerSettings) -> int:
    """Rough peak memory of a request: decoding dominates, and decoding runs per batch."""
    return settings.batch_size * settings.width * settings.height * BYTES_PER_PIXEL


def device_memory(device: torch.device) -> int | None:
    """Total memory the device can give a process (RAM for CPU and MPS), or None when unknown."""
    try:
        if device.type == "cuda":
            import torch

            return int(torch.cuda.get_device_properties(device).total_memory)
        if hasattr(os, "sysconf"):
            return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        import psutil  # Windows, when installed

        return int(psutil.virtual_memory().total)
    except Exception:  # no driver, no psutil: no estimate, the allocator will say it
        return None


def check_fits(settings: SamplerSettings, device: torch.device) -> None:
    """RequestError naming the size when the request cannot fit in the device's memory at all."""
    total = device_memory(device)
    need = estimated_bytes(settings)
    if total is not None and need > total:
        raise RequestError(
            "width/height",
            f"{settings.width}×{settings.height} × {settings.batch_size} image(s) needs about {need / 2**30:.0f} GB "
            f"to decode; {device.type} has {total / 2**30:.0f} GB: make the images smaller or the batch smaller",
        )
