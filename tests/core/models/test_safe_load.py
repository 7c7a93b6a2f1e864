"""Checkpoints never run pickled code: payloads are rejected or inert, bad files are named clearly."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from ldm_studio.core.errors import CheckpointError
from ldm_studio.core.models.safe_load import Placeholder, read_checkpoint


class _Payload:
    """Unpickling this would create a file (a stand-in for any command)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _OpenPayload:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


STATE = {"model.diffusion_model.out.2.weight": torch.ones(2, 2)}


@pytest.mark.parametrize("payload", [_Payload, _OpenPayload])
@pytest.mark.parametrize("legacy", [False, True])
def test_payload_beside_the_state_dict_is_inert(tmp_path, payload, legacy):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.ckpt"
    data = {"state_dict": STATE, "global_step": 7, "callbacks": {"cb": payload(str(marker))}}
    torch.save(data, path, _use_new_zipfile_serialization=not legacy)
    ckpt = read_checkpoint(path)
    assert not marker.exists()
    assert ckpt.method == "restricted" and ckpt.replaced
    assert ckpt.global_step == 7 and torch.equal(
        ckpt.state_dict["model.diffusion_model.out.2.weight"], torch.ones(2, 2)
    )


def test_checkpoint_that_is_only_a_payload_is_rejected(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save(_Payload(str(marker)), path)
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: is not a checkpoint.*system.*not run"):
        read_checkpoint(path)
    assert not marker.exists()


def test_raw_pickle_payload_renamed_ckpt_is_rejected(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "raw.ckpt"
    path.write_bytes(pickle.dumps({"state_dict": _Payload(str(marker))}, protocol=2))
    with pytest.raises(CheckpointError, match=r"raw\.ckpt"):
        read_checkpoint(path)
    assert not marker.exists()


def test_placeholder_records_instead_of_calling():
    ghost = Placeholder("os.system")
    result = ghost("rm -rf /")
    assert isinstance(result, Placeholder) and result.args == ("rm -rf /",)


def test_plain_lightning_checkpoint_loads_weights_only(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": STATE, "global_step": 3}, path)
    ckpt = read_checkpoint(path)
    assert ckpt.method == "weights_only" and ckpt.global_step == 3 and list(ckpt.state_dict) == list(STATE)


def test_safetensors_checkpoint(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(STATE, str(path))
    assert read_checkpoint(path).method == "safetensors"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\0\0\0\0\0\0\0{not json")
    with pytest.raises(CheckpointError, match=r"bad\.safetensors"):
        read_checkpoint(bad)


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_checkpoint(tmp_path, legacy):
    path = tmp_path / "model.ckpt"
    torch.save(
        {"state_dict": {"w": torch.randn(64, 64)}, "global_step": 1}, path, _use_new_zipfile_serialization=not legacy
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.ckpt: .*truncated"):
        read_checkpoint(path)


def test_text_file_renamed_ckpt(tmp_path):
    path = tmp_path / "notes.ckpt"
    path.write_text("these are my notes, not a model\n")
    with pytest.raises(CheckpointError, match=r"notes\.ckpt: is not a PyTorch checkpoint"):
        read_checkpoint(path)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        read_checkpoint(tmp_path / "empty.ckpt")
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "missing.ckpt")
