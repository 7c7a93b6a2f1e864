"""Model families: one module each, registering a `FamilySpec` (see `registry`).

Importing this package registers the built-in families; the rest of the code asks
`registry.get_family(name)` and never names a family itself.
"""

from __future__ import annotations

from ldm_studio.core.families import (  # noqa: F401 - they register
    ldm_class,
    ldm_inpaint,
    ldm_multi,
    ldm_semantic,
    ldm_superres,
    ldm_text,
    ldm_uncond,
    sd,
    sdxl,
)
from ldm_studio.core.families.base import LatentDiffusionModel
from ldm_studio.core.families.registry import FamilySpec, families, get_family

__all__ = ["FamilySpec", "LatentDiffusionModel", "families", "get_family"]
