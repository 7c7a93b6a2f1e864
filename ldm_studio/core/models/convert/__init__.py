"""Converting original CompVis latent-diffusion checkpoints into LDM Studio model folders."""

from ldm_studio.core.models.convert.converter import ConversionReport, convert_checkpoint, family_of
from ldm_studio.core.models.convert.into_store import convert_into_store

__all__ = ["ConversionReport", "convert_checkpoint", "convert_into_store", "family_of"]
