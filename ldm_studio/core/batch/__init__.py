"""Batch export: specs (rows or sweeps) → image jobs → a resumable run into a folder."""

from ldm_studio.core.batch.runner import BatchProgress, BatchReport, BatchRun
from ldm_studio.core.batch.spec import BadRow, BatchSpec, ImageJob, expand, read_spec

__all__ = ["BadRow", "BatchProgress", "BatchReport", "BatchRun", "BatchSpec", "ImageJob", "expand", "read_spec"]
