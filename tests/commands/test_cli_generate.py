"""`ldm-studio generate`: PNGs written and printed; a bad model folder is one error line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.files.recipe import RECIPE_KEY


def test_generate_writes_pngs_with_recipes(tiny_text_model, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            "--model",
            str(tiny_text_model),
            "--prompt",
            "a red cat",
            "--negative",
            "blurry",
            "--seed",
            "7",
            "--steps",
            "3",
            "--sampler",
            "euler_a",
            "--guidance",
            "4",
            "--batch",
            "2",
            "--width",
            "64",
            "--height",
            "64",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 2 and all(p.endswith(".png") for p in printed)
    for i, path in enumerate(printed):
        with Image.open(path) as image:
            assert image.size == (64, 64)
            recipe = json.loads(image.text[RECIPE_KEY])
        assert recipe["condition"] == {"kind": "text", "prompt": "a red cat", "negative": "blurry"}
        assert recipe["settings"]["sampler"] == "euler_a" and recipe["settings"]["seed"] == 7 + i
        assert recipe["batch"] == {"index": i, "size": 2, "seed": 7}
        assert "Negative prompt: blurry" in image.text["parameters"]
    assert not list(out.glob("*.part"))


def test_generate_is_reproducible_from_the_command_line(tiny_text_model, tmp_path, capsys):
    args = [
        "generate",
        "--model",
        str(tiny_text_model),
        "--prompt",
        "sea",
        "--seed",
        "3",
        "--steps",
        "2",
        "--width",
        "64",
        "--height",
        "64",
        "--device",
        "cpu",
        "--quiet",
    ]
    main([*args, "--out", str(tmp_path / "a")])
    main([*args, "--out", str(tmp_path / "b")])
    a, b = capsys.readouterr().out.split()
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ldm_studio", *args], capture_output=True, text=True, timeout=120)


def test_malformed_model_folder_is_one_error_line(tiny_text_model, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_text_model, broken)
    (broken / "ldm_studio.json").write_text("{")
    done = run_cli("generate", "--model", str(broken), "--prompt", "x")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "ldm_studio.json" in lines[0] and "not valid JSON" in lines[0]
    assert "Traceback" not in done.stderr


def test_missing_part_and_bad_values_are_one_error_line(tiny_text_model, tmp_path, capsys):
    """In process (the subprocess test above covers the entry point's own error path)."""
    broken = tmp_path / "broken"
    shutil.copytree(tiny_text_model, broken)
    shutil.rmtree(broken / "unet")
    cases = [
        (["--model", str(broken), "--prompt", "x"], "unet: missing"),
        (["--model", str(tiny_text_model), "--prompt", "x", "--steps", "0"], "steps: must be between 1"),
        (["--model", str(tiny_text_model)], "--prompt: a text model needs a prompt"),
    ]
    for args, message in cases:
        assert main(["generate", *args, "--device", "cpu", "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_generate_trajectory_writes_one_frame_per_step(tiny_text_model, tmp_path, capsys):
    out = tmp_path / "out"
    common = ["generate", "--model", str(tiny_text_model), "--prompt", "a red cat", "--seed", "3", "--steps", "5"]
    common += ["--width", "64", "--height", "64", "--out", str(out), "--device", "cpu", "--quiet"]
    assert main([*common, "--trajectory", str(tmp_path / "steps.webp")]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[-1] == str(tmp_path / "steps.webp")
    with Image.open(printed[-1]) as animation:
        assert animation.is_animated and animation.n_frames == 5 and animation.size == (64, 64)
        animation.seek(4)
        last = np.asarray(animation.convert("RGB"))
    with Image.open(printed[0]) as final:
        assert np.array_equal(last, np.asarray(final.convert("RGB")))  # lossless: the last frame is the image
    assert main([*common, "--trajectory", str(tmp_path / "steps.gif"), "--trajectory-frames", "preview"]) == 0
    with Image.open(capsys.readouterr().out.split()[-1]) as animation:
        assert animation.n_frames == 5
    assert main([*common, "--trajectory", str(tmp_path / "steps.mp4")]) == 2
    assert "--trajectory: steps.mp4" in capsys.readouterr().err
