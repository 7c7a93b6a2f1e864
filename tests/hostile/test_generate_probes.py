"""Issue 21, probes 4-10 and 35: `generate` refuses bad input in one line before sampling and never loses an image."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.files.outputs import file_mode, write_png_new
from ldm_studio.core.maps.semantic_maps import colorize
from tests.hostile.helpers import bomb_png


@pytest.fixture(scope="module")
def semantic_model(tmp_path_factory):
    from ldm_studio.testing.tiny_models import write_semantic_model

    return write_semantic_model(tmp_path_factory.mktemp("models") / "tiny-semantic")


def one_error_line(capsys, code, *needles):
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("ldm-studio")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_a_map_bomb_is_refused_before_decoding(semantic_model, tmp_path, capsys):
    """4: a 74-byte PNG declaring 20000x20000."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png())
    assert bomb.stat().st_size < 200
    code = main(["generate", "--model", str(semantic_model), "--map", str(bomb), "--out", str(tmp_path)])
    one_error_line(capsys, code, "bomb.png", "400000000 pixels")


def test_a_jpeg_map_is_refused(semantic_model, tmp_path, capsys):
    """10: lossy maps change labels at every edge; refused instead of silently used."""
    indices = np.zeros((64, 64), np.int64)
    indices[:, 32:] = 7
    indices[20:40, 10:50] = 21
    for mode, pixels in (("L", indices.astype(np.uint8)), ("RGB", colorize(indices))):
        path = tmp_path / f"map-{mode}.jpg"
        Image.fromarray(pixels).convert(mode).save(path, quality=90)
        code = main(["generate", "--model", str(semantic_model), "--map", str(path), "--out", str(tmp_path)])
        one_error_line(capsys, code, path.name, "JPEG", "PNG")


def test_sizes_that_cannot_fit_and_zero_are_refused(tiny_text_model, tmp_path, capsys):
    """5: 16384x16384 passes the field checks but cannot fit; 6: --width 0 is not "the default"."""
    args = ["generate", "--model", str(tiny_text_model), "--prompt", "x", "--out", str(tmp_path / "o")]
    code = main([*args, "--width", "16384", "--height", "16384"])
    one_error_line(capsys, code, "16384×16384", "GB")
    code = main([*args, "--width", "0"])
    one_error_line(capsys, code, "width", "between")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").glob("*.png"))


def test_a_bad_out_is_refused_before_sampling(tiny_text_model, tmp_path, capsys, monkeypatch):
    """7-9: read-only, an existing file, a folder under a file: one line, before any sampling."""
    sampled = []
    monkeypatch.setattr("ldm_studio.core.generation.engine.Engine.generate", lambda *a, **k: sampled.append(1))
    args = ["generate", "--model", str(tiny_text_model), "--prompt", "x", "--steps", "2"]
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    one_error_line(capsys, main([*args, "--out", str(afile)]), "afile", "is a file")
    one_error_line(capsys, main([*args, "--out", str(afile / "sub")]), "afile/sub", "cannot write")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    real = tempfile.mkstemp

    def no_write(*a, dir=None, **k):
        if dir is not None and Path(dir) == readonly:
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkstemp", no_write)
    one_error_line(capsys, main([*args, "--out", str(readonly)]), "ro", "Read-only")
    assert not sampled and afile.read_text() == "keep me"


def test_images_go_to_the_history_folder_when_out_fails_after_sampling(tiny_text_model, tmp_path, capsys, monkeypatch):
    """7-9 after sampling: the folder breaks while sampling; the images are saved to history, and said so."""
    out = tmp_path / "out"
    import ldm_studio.core.files.outputs as outputs

    real = outputs._write_temp

    def broken(folder, *a, **k):
        if Path(folder) == out:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(folder, *a, **k)

    monkeypatch.setattr(outputs, "_write_temp", broken)
    code = main(["generate", "--model", str(tiny_text_model), "--prompt", "x", "--steps", "2", "--batch", "2",
                 "--seed", "3", "--out", str(out), "--quiet"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    written = [Path(line) for line in captured.out.split()]
    from ldm_studio.core.files.store import history_dir

    assert len(written) == 2 and all(p.parent == history_dir() and p.is_file() for p in written)
    assert "No space left" in captured.err and str(history_dir()) in captured.err


def test_a_name_taken_while_writing_is_never_replaced(tmp_path, monkeypatch):
    """35: two `generate --seed 42 --out SAME` at once. The other process takes the name after this one
    looked and before it renamed: an exclusive create keeps both images (check-then-replace lost one)."""
    import ldm_studio.core.files.outputs as outputs

    target = tmp_path / "same.png"
    real = outputs._write_temp

    def racing(folder, *a, **k):
        tmp = real(folder, *a, **k)
        if not target.exists():
            target.write_bytes(b"the other process's image")
        return tmp

    monkeypatch.setattr(outputs, "_write_temp", racing)
    written = write_png_new(target, np.full((8, 8, 3), 5, np.uint8))
    assert written != target and target.read_bytes() == b"the other process's image"
    assert np.asarray(Image.open(written))[0, 0, 0] == 5
    assert not list(tmp_path.glob(".*part"))


def test_written_pngs_follow_the_umask_and_never_replace(tmp_path):
    first = write_png_new(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    second = write_png_new(tmp_path / "a.png", np.ones((4, 4, 3), np.uint8))
    assert first != second and np.asarray(Image.open(first)).max() == 0
    if os.name == "posix":
        assert (first.stat().st_mode & 0o777) == file_mode() != 0o600
    with pytest.raises(FileExistsError):
        write_png_new(first, np.zeros((4, 4, 3), np.uint8), rename=False)
