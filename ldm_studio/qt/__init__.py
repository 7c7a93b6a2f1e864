"""The Qt adapter: a GUI-thread `EngineController` driving one long-lived engine thread.

Everything here is Qt glue around `ldm_studio.core`, which stays Qt-free.
"""

from ldm_studio.qt.controller import EngineController
from ldm_studio.qt.jobs import Job

__all__ = ["EngineController", "Job"]
