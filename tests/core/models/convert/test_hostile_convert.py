"""Issue 21, probes 1-3 and 37-40: a hostile config or checkpoint, or a wrong --out, is one line and deletes nothing."""

from __future__ import annotations

import json
import struct
import time

import pytest
import yaml

from ldm_studio.cli import main
from ldm_studio.core.errors import CheckpointError, ConversionError
from ldm_studio.core.models.convert import convert_checkpoint
from ldm_studio.core.models.safe_load import read_checkpoint


def one_line(capsys, code, *needles):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("ldm-studio")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert len(lines[0]) < 500
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_yaml_alias_bomb_is_refused_quickly_in_one_short_line(tmp_path, originals, capsys):
    """1: nested anchors a0..a7, x10 each: expanding the repr took 29 s and 2.4 GB."""
    _, _, ckpt = originals["class"]
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    lines += ["model:", "  target: ldm.models.diffusion.ddpm.LatentDiffusion", "  params:", "    beta_schedule: *a7"]
    config = tmp_path / "bomb.yaml"
    config.write_text("\n".join(lines) + "\n")
    assert config.stat().st_size < 2500
    start = time.perf_counter()
    code = main(["convert", "--config", str(config), "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")])
    assert time.perf_counter() - start < 5
    one_line(capsys, code, "bomb.yaml")


def test_long_values_in_messages_are_cut(tmp_path, originals):
    config, _, ckpt = originals["class"]
    changed = yaml.safe_load(yaml.safe_dump(config))
    changed["model"]["params"]["beta_schedule"] = "x" * 100_000
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(changed))
    with pytest.raises(ConversionError, match="beta_schedule") as err:
        convert_checkpoint(path, ckpt, tmp_path / "out")
    assert len(str(err.value)) < 400


def test_a_sparse_safetensors_header_is_refused_before_allocating(tmp_path):
    """2: a header declaring [100000, 100000] F32 in a file of a few bytes."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [100000, 100000], "data_offsets": [0, 40_000_000_000]}})
    path = tmp_path / "sparse.safetensors"
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header.encode())
        handle.write(b"\0" * 16)
    with pytest.raises(CheckpointError, match=r"sparse\.safetensors.*outside the file"):
        read_checkpoint(path)
    header = json.dumps({"w": {"dtype": "F32", "shape": [100000, 100000], "data_offsets": [0, 16]}})
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + b"\0" * 16)
    with pytest.raises(CheckpointError, match="needs 40000000000 bytes"):
        read_checkpoint(path)
    path.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(CheckpointError, match="header"):
        read_checkpoint(path)


def test_model_channels_far_beyond_the_checkpoint_is_refused_before_building(tmp_path, originals, capsys):
    """3: `model_channels: 32768` made build_unet allocate until it failed."""
    config, _, ckpt = originals["uncond"]
    for value, needle in ((32768, "outside 1..4096"), (64, "the checkpoint's U-Net has 32")):
        changed = yaml.safe_load(yaml.safe_dump(config))
        changed["model"]["params"]["unet_config"]["params"]["model_channels"] = value
        changed["model"]["params"]["unet_config"]["params"]["num_head_channels"] = 16
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(changed))
        code = main(["convert", "--config", str(path), "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")])
        one_line(capsys, code, "model_channels", needle)


def test_overwrite_never_deletes_a_folder_that_is_not_a_model(tmp_path, originals, capsys):
    """37: `--out DIR --overwrite` where DIR holds a thesis and docs/."""
    _, config_path, ckpt = originals["class"]
    out = tmp_path / "work"
    (out / "docs").mkdir(parents=True)
    (out / "thesis.txt").write_text("years of work")
    (out / "docs" / "notes.md").write_text("notes")
    args = ["convert", "--config", str(config_path), "--checkpoint", str(ckpt), "--quiet", "--out"]
    one_line(capsys, main([*args, str(out), "--overwrite"]), "not a model folder")
    assert (out / "thesis.txt").read_text() == "years of work" and (out / "docs" / "notes.md").is_file()
    model = tmp_path / "model"
    assert main([*args, str(model)]) == 0
    (model / "stale.txt").write_text("old")
    assert main([*args, str(model), "--overwrite"]) == 0  # a model folder is replaced
    assert not (model / "stale.txt").exists() and (model / "ldm_studio.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_out_that_is_a_file_or_unwritable_is_one_line(tmp_path, originals, capsys, monkeypatch):
    """38-40: an existing file, a folder under a file, a read-only place."""
    _, config_path, ckpt = originals["class"]
    afile = tmp_path / "afile"
    afile.write_text("keep")
    args = ["convert", "--config", str(config_path), "--checkpoint", str(ckpt), "--quiet", "--out"]
    one_line(capsys, main([*args, str(afile)]), "afile", "is a file")
    one_line(capsys, main([*args, str(afile / "sub")]), "cannot write")
    import errno
    import tempfile

    real = tempfile.mkdtemp
    readonly = tmp_path / "ro"
    readonly.mkdir()

    def no_write(*a, dir=None, **k):
        if dir is not None and str(dir).startswith(str(readonly)):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkdtemp", no_write)
    one_line(capsys, main([*args, str(readonly / "model")]), "Read-only file system")
    assert afile.read_text() == "keep"
