"""`pip install ldm-studio` from a built wheel: resources, demo model and entry points are in it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = out.glob("ldm_studio-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_carries_resources(wheel):
    names = set(wheel.namelist())
    for label_set in ("coco_stuff_182.json", "ade20k_150.json", "imagenet_1k.json"):
        assert f"ldm_studio/resources/labels/{label_set}" in names
    assert "ldm_studio/resources/icons/ldm-studio.svg" in names
    assert "ldm_studio/resources/icons/ldm-studio-256.png" in names
    # Stable Diffusion single files load offline from these
    assert "ldm_studio/resources/sd_configs/architectures.json" in names
    assert "ldm_studio/resources/sd_configs/clip_merges.txt.gz" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_wheel_carries_the_demo_model_when_the_tree_has_it(wheel):
    demo = ROOT / "resources" / "demo_model"
    if not (demo / "ldm_studio.json").is_file():
        pytest.skip("the demo model has not been trained into this tree")
    names = set(wheel.namelist())
    for file in demo.rglob("*"):
        if file.is_file():
            assert f"ldm_studio/resources/demo_model/{file.relative_to(demo).as_posix()}" in names


def test_wheel_entry_points(wheel):
    (entry,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry).decode()
    assert "[console_scripts]\nldm-studio = ldm_studio.cli:main" in text
    assert "[gui_scripts]\nldm-studio-gui = ldm_studio.cli:gui_main" in text


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "ldm_studio", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.startswith("ldm-studio 0.")
