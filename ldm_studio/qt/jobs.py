"""A generation job as it travels from the controller to the engine thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ldm_studio.core.generation.requests import GenerationRequest
from ldm_studio.core.generation.trajectory import BranchOrigin


@dataclass(eq=False)
class Job:
    """One request with its id and its own cancel flag (the sampling loop checks it every step)."""

    id: int
    request: GenerationRequest
    cancel: threading.Event = field(default_factory=threading.Event)
    # set from the GUI: the worker decodes the current x0 fully at its next step, then clears it
    full_preview: threading.Event = field(default_factory=threading.Event)
    # a branch: where it starts, and the job whose kept trajectory it continues (if still kept)
    branch: BranchOrigin | None = None
    parent_job: int | None = None


@dataclass(eq=False)
class BatchJob:
    """A batch spec run into a folder on the engine thread (the engine holds one model, so never elsewhere)."""

    id: int
    spec: str
    out_dir: str
    base_seed: int | None = None
    workers: int = 1  # >1: that many engine processes (the window's own engine stays loaded meanwhile)
    cancel: threading.Event = field(default_factory=threading.Event)
