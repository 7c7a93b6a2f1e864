"""Quiet the model libraries: diffusers/transformers log advice meant for developers.

Its own module (not cli.py) so the window can call it without importing the command line,
and so importing it costs nothing: the libraries are imported only when it is called.
"""

from __future__ import annotations

import logging


def quiet_libraries() -> None:
    """Only errors from diffusers, transformers and accelerate, and no progress bars of theirs."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("accelerate").setLevel(logging.ERROR)
