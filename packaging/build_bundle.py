"""Build the PyInstaller one-folder app and check that it starts and generates (not CI: slow).

    python packaging/build_bundle.py [--skip-build]

Prints the build time, the bundle size, and the smoke checks' results: the bundled
`ldm-studio generate` makes one image with the demo model, and the bundled window opens
offscreen, generates one image and closes (`gui --smoke-test`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "build" / "dist"
APP = DIST / "ldm-studio" / ("ldm-studio.exe" if sys.platform == "win32" else "ldm-studio")


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-build", action="store_true", help="only run the smoke checks")
    args = parser.parse_args()
    if not args.skip_build:
        if shutil.which("pyinstaller") is None:
            subprocess.run([sys.executable, "-m", "pip", "install", "pyinstaller"], check=True)
        start = time.perf_counter()
        subprocess.run(
            [
                "pyinstaller",
                str(ROOT / "packaging" / "ldm-studio.spec"),
                "--noconfirm",
                "--distpath",
                str(DIST),
                "--workpath",
                str(ROOT / "build" / "pyinstaller"),
            ],
            check=True,
            cwd=ROOT,
        )
        print(f"build: {time.perf_counter() - start:.0f} s")
    print(f"bundle: {folder_size(APP.parent) / 2**20:.0f} MiB in {APP.parent}")

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        env["LDM_STUDIO_HOME"] = tmp
        out = Path(tmp) / "out"
        done = subprocess.run(
            [
                str(APP),
                "generate",
                "--prompt",
                "a beach under a clear sky",
                "--steps",
                "10",
                "--seed",
                "1",
                "--out",
                str(out),
                "--quiet",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        ok = done.returncode == 0 and list(out.glob("*.png"))
        print(f"generate: {'ok' if ok else 'FAILED'} {done.stdout.strip()} {done.stderr.strip()[-2000:]}")
        start = time.perf_counter()
        gui = subprocess.run([str(APP), "gui", "--smoke-test"], env=env, capture_output=True, text=True, timeout=600)
        print(
            f"window: {'ok' if gui.returncode == 0 else 'FAILED'} in {time.perf_counter() - start:.0f} s "
            f"{gui.stdout.strip()} {gui.stderr.strip()[-2000:]}"
        )
        return 0 if ok and gui.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
