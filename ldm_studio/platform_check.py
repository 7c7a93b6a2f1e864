"""Can Qt open a window here? Asked before the QApplication exists, because Qt cannot say.

When Qt's platform plugin fails to load (on Linux: a missing X11/xcb library, or no display),
Qt prints "Could not load the Qt platform plugin" and aborts the process (exit 134), so no
Python code can catch it. This module looks first: it lists the plugin's missing libraries with
`ldd` and names the system packages that provide them. It never imports Qt.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# Shared libraries Qt's xcb plugin (and Qt Gui under it) loads from the system, with the Debian/Ubuntu
# and the Fedora package that provides each. The README's apt-get and dnf lines are these packages.
SYSTEM_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libXau.so.6": ("libxau6", "libXau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libGLdispatch.so.0": ("libglvnd0", "libglvnd"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def missing_libraries(ldd_output: str) -> list[str]:
    """The library names `ldd` reports as "not found", each once, in order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def packages_for(libraries: list[str]) -> tuple[list[str], list[str]]:
    """Debian and Fedora packages that provide these libraries (unknown libraries are left out)."""
    debian = [SYSTEM_LIBRARIES[lib][0] for lib in libraries if lib in SYSTEM_LIBRARIES]
    fedora = [SYSTEM_LIBRARIES[lib][1] for lib in libraries if lib in SYSTEM_LIBRARIES]
    return list(dict.fromkeys(debian)), list(dict.fromkeys(fedora))


def qt_plugin_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """The folder of Qt's platform plugins that PySide6 will use (without importing Qt)."""
    env = os.environ if env is None else env
    if env.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        return Path(env["QT_QPA_PLATFORM_PLUGIN_PATH"])
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"


def library_problems(plugin: Path) -> list[str]:
    """Libraries `plugin` needs that the dynamic loader cannot find (ldd lists them all at once)."""
    ldd = shutil.which("ldd")
    if ldd:
        try:
            out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return []
        return missing_libraries(out.stdout + out.stderr)
    # No ldd (a minimal container): loading the plugin in a child process names the first missing library.
    code = "import ctypes, sys; ctypes.CDLL(sys.argv[1])"
    try:
        out = subprocess.run([sys.executable, "-c", code, str(plugin)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = re.findall(r"(\S+\.so[.\d]*): cannot open shared object file", out.stderr)
    return list(dict.fromkeys(found))


def platform_problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why Qt could not open a window here, as a message for the person, or None when it should.

    Only Linux's X11 (xcb) plugin is checked: it is the one whose system libraries a fresh
    machine lacks. `QT_QPA_PLATFORM` set to another plugin (offscreen, wayland, ...) is trusted.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    plugins = qt_plugin_dir(env)
    if not chosen and env.get("WAYLAND_DISPLAY") and plugins and any(plugins.glob("libqwayland*.so")):
        return None  # a Wayland session: Qt uses its Wayland plugin (and falls back to xcb itself)
    if chosen and chosen != "xcb":
        return None
    if plugins is None:
        return None
    plugin = plugins / "libqxcb.so"
    if plugin.is_file():
        missing = library_problems(plugin)
        if missing:
            return missing_libraries_message(missing)
    if not env.get("DISPLAY"):
        return (
            "ldm-studio: cannot open the window: no display (DISPLAY is not set). Run it in a desktop session "
            "(or `ssh -X`); `ldm-studio generate` works without one, and QT_QPA_PLATFORM=offscreen runs the "
            "window without a screen."
        )
    return None


def missing_libraries_message(missing: list[str]) -> str:
    """One paragraph: what is missing and the install line that fixes it."""
    debian, fedora = packages_for(missing)
    lines = [
        "ldm-studio: cannot open the window: Qt's X11 platform plugin (xcb) needs system libraries that are "
        f"not installed: {', '.join(missing)}.",
    ]
    if debian:
        lines.append(f"  Debian/Ubuntu: sudo apt-get install {' '.join(debian)}")
        lines.append(f"  Fedora:        sudo dnf install {' '.join(fedora)}")
    lines.append("  (README.md, 'Install', lists every package Qt needs; `ldm-studio generate` works without them.)")
    return "\n".join(lines)
