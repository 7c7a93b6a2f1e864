"""Device choice: the CPU fallback says so; an unavailable device asked for is a clear error."""

from __future__ import annotations

import pytest
import torch

from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.generation.device import choose_device


def test_cpu_choice_and_dtypes():
    choice = choose_device("cpu")
    assert choice.device.type == "cpu" and choice.dtype == torch.float32
    assert choose_device("cpu", "bf16").dtype == torch.bfloat16
    assert choice.label == "cpu (fp32)"


def test_auto_falls_back_to_cpu_with_a_message(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("ldm_studio.core.generation.device._mps_available", lambda: False)
    choice = choose_device()
    assert choice.device.type == "cpu" and "No GPU" in choice.note


def test_auto_prefers_cuda_in_fp16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    choice = choose_device()
    assert choice.device.type == "cuda" and choice.dtype == torch.float16 and not choice.note


def test_unavailable_or_unknown_devices_are_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(LdmStudioError, match="CUDA is not available"):
        choose_device("cuda")
    with pytest.raises(LdmStudioError, match="is not a device"):
        choose_device("toaster")
    with pytest.raises(LdmStudioError, match="unknown dtype"):
        choose_device("cpu", "fp8")
