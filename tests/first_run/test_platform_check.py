"""When Qt's window cannot open (missing X11 libraries, no display) the app says why instead of aborting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ldm_studio import platform_check
from ldm_studio.platform_check import missing_libraries, missing_libraries_message, platform_problem

ROOT = Path(__file__).resolve().parents[2]

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def test_ldd_output_gives_each_missing_library_once():
    assert missing_libraries(LDD_OUTPUT) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


def test_message_names_the_libraries_and_the_packages_to_install():
    message = missing_libraries_message(["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in message
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in message
    assert "sudo dnf install xcb-util-cursor xcb-util-wm" in message


def _plugins(tmp_path: Path) -> Path:
    (tmp_path / "libqxcb.so").write_bytes(b"")
    return tmp_path


def test_missing_libraries_are_reported_for_the_xcb_plugin(tmp_path, monkeypatch):
    monkeypatch.setattr(platform_check, "library_problems", lambda plugin: ["libxcb-icccm.so.4"])
    env = {"DISPLAY": ":0", "QT_QPA_PLATFORM_PLUGIN_PATH": str(_plugins(tmp_path))}
    problem = platform_problem(env, platform="linux")
    assert problem is not None and "libxcb-icccm.so.4" in problem and "libxcb-icccm4" in problem


def test_no_display_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(platform_check, "library_problems", lambda plugin: [])
    problem = platform_problem({"QT_QPA_PLATFORM_PLUGIN_PATH": str(_plugins(tmp_path))}, platform="linux")
    assert problem is not None and "DISPLAY" in problem


def test_other_platform_plugins_and_systems_are_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr(platform_check, "library_problems", lambda plugin: ["libxcb-icccm.so.4"])
    plugins = str(_plugins(tmp_path))
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen", "QT_QPA_PLATFORM_PLUGIN_PATH": plugins}, "linux") is None
    assert platform_problem({"DISPLAY": ":0"}, platform="darwin") is None
    assert platform_problem({"DISPLAY": ":0"}, platform="win32") is None
    (tmp_path / "libqwayland.so").write_bytes(b"")
    wayland = {"WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM_PLUGIN_PATH": plugins}
    assert platform_problem(wayland, platform="linux") is None


def test_everything_is_fine_with_libraries_and_a_display(tmp_path, monkeypatch):
    monkeypatch.setattr(platform_check, "library_problems", lambda plugin: [])
    env = {"DISPLAY": ":0", "QT_QPA_PLATFORM_PLUGIN_PATH": str(_plugins(tmp_path))}
    assert platform_problem(env, platform="linux") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin is Linux's")
def test_the_window_command_explains_instead_of_aborting(tmp_path):
    """Without a display (and here also without some xcb libraries) Qt would abort with exit 134."""
    unset = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM_PLUGIN_PATH")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(QT_QPA_PLATFORM="xcb", LDM_STUDIO_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-m", "ldm_studio", "gui"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert out.returncode == 1, out.stderr
    assert "ldm-studio: cannot open the window" in out.stderr
    assert "Could not load the Qt platform plugin" not in out.stderr
