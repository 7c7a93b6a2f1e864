"""The README's install lines and `.ci/run` agree, and the apt-get/dnf lines cover Qt's X11 plugin."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ldm_studio.platform_check import SYSTEM_LIBRARIES, qt_plugin_dir

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _line(text: str, start: str) -> str:
    lines = [line for line in text.splitlines() if line.strip().startswith(start)]
    assert len(lines) == 1, f"expected one line starting {start!r}, found {len(lines)}"
    return lines[0].strip()


def _packages(line: str) -> list[str]:
    words = line.split()
    return [w for w in words[words.index("install") + 1 :] if not w.startswith(("-", ">"))]


def test_ci_runs_the_readme_test_command_verbatim():
    command = _line(README, 'python3 -m venv .venv && .venv/bin/pip install -q -e ".[test]"')
    assert command in CI.splitlines()


def test_ci_installs_the_readme_apt_line():
    readme_packages = _packages(_line(README, "sudo apt-get install"))
    ci_packages = _packages(_line(CI, "apt-get install").split(" ||")[0])
    assert "libxcb-cursor0" in readme_packages
    assert readme_packages == ci_packages


def test_readme_offers_cpu_and_cuda_torch():
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in README
    assert "pip install torch --index-url https://download.pytorch.org/whl/cu" in README


def test_the_install_lines_name_every_package_of_the_library_table():
    apt = set(_line(README, "sudo apt-get install").split())
    dnf = set(_line(README, "sudo dnf install").split())
    for library, (debian, fedora) in SYSTEM_LIBRARIES.items():
        assert debian in apt, f"{library}: {debian} is not in the README's apt-get line"
        assert fedora in dnf, f"{library}: {fedora} is not in the README's dnf line"


@pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("ldd"), reason="needs Linux's ldd")
def test_the_library_table_covers_the_system_libraries_the_xcb_plugin_links():
    """Every X11/GL/font/D-Bus library of the installed plugin has a package in the table (and so the README)."""
    plugin = qt_plugin_dir() / "libqxcb.so"
    if not plugin.is_file():
        pytest.skip("PySide6 has no xcb plugin here")
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=60, check=False).stdout
    names = {line.split()[0] for line in out.splitlines() if "=>" in line}
    qt_family = ("libX", "libxcb", "libxkb", "libGL", "libEGL", "libfontconfig", "libfreetype", "libdbus", "libglib")
    system = {n for n in names if n.startswith(qt_family)}
    assert system, out
    assert system <= set(SYSTEM_LIBRARIES), sorted(system - set(SYSTEM_LIBRARIES))
