"""The one out-of-memory policy (core.generation.memory.sample_with_retry) and the one history naming scheme."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.files.outputs import default_name, history_name
from ldm_studio.core.generation.memory import sample_with_retry
from ldm_studio.core.generation.requests import ClassCondition, GenerationRequest, SamplerSettings

REQUEST = GenerationRequest(ClassCondition((3, 4, 5)), SamplerSettings(seed=10, batch_size=3, width=64, height=64))


def oom() -> RuntimeError:
    return RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_a_batch_that_runs_out_of_memory_is_retried_image_by_image():
    calls = []

    def sample(request, part, parts):
        calls.append((request.settings.batch_size, request.settings.seed, request.condition.class_ids, part, parts))
        if request.settings.batch_size > 1:
            raise oom()
        return np.full((1, 2, 2, 3), request.settings.seed, dtype=np.uint8)

    images = sample_with_retry(REQUEST, "cuda:0", sample)
    assert [int(i[0, 0, 0]) for i in images] == [10, 11, 12]  # image i is seed + i: the same pictures
    assert calls[1:] == [(1, 10, (3,), 0, 3), (1, 11, (4,), 1, 3), (1, 12, (5,), 2, 3)]


def test_out_of_memory_twice_is_explained_and_other_errors_pass_through():
    with pytest.raises(LdmStudioError, match=r"Out of memory on cuda:0 at 64×64, batch 3\. It was also tried"):
        sample_with_retry(REQUEST, "cuda:0", lambda *_: (_ for _ in ()).throw(oom()))
    with pytest.raises(ValueError, match="other"):
        sample_with_retry(REQUEST, "cuda:0", lambda *_: (_ for _ in ()).throw(ValueError("other")))


def test_cli_and_window_name_history_files_in_one_scheme():
    cli = default_name(REQUEST, 2)
    window = history_name(12, job=7)
    assert re.fullmatch(r"\d{8}-\d{6}-\d{3}-12\.png", cli)
    assert re.fullmatch(r"\d{8}-\d{6}-\d{3}-j7-12\.png", window)
