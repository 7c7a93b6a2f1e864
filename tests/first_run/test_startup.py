"""`ldm-studio --help`, `--version` and argument errors answer without loading torch, diffusers or Qt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "diffusers", "transformers", "PySide6")


def _loaded_after(code: str) -> list[str]:
    """Heavy modules in sys.modules after running `code` in a fresh interpreter (this checkout first on the path)."""
    probe = f"""
import sys
try:
{chr(10).join('    ' + line for line in code.splitlines())}
except SystemExit:
    pass
print("loaded:" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", probe]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=True)
    return [m for m in out.stdout.rpartition("loaded:")[2].strip().split(",") if m]


def test_importing_the_cli_loads_no_torch_diffusers_or_qt():
    assert _loaded_after("import ldm_studio.cli") == []


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["generate", "--help"], ["generate", "--steps", "x"], ["batch"], ["models", "--help"]],
)
def test_help_version_and_argument_errors_load_nothing_heavy(argv):
    code = (
        "import contextlib, io\nfrom ldm_studio.cli import main\n"
        f"with contextlib.redirect_stderr(io.StringIO()):\n    main({argv!r})"
    )
    assert _loaded_after(code) == []


def test_quiet_module_imports_the_libraries_only_when_called():
    assert _loaded_after("import ldm_studio.quiet") == []


def test_the_cli_sampler_names_are_the_samplers_the_engine_knows():
    from ldm_studio.core.generation.sampler_names import SAMPLER_NAMES
    from ldm_studio.core.generation.samplers import SAMPLER_NAMES as ENGINE_SAMPLERS

    assert SAMPLER_NAMES == ENGINE_SAMPLERS


def test_models_list_loads_no_torch_and_lists_the_catalogue(tmp_path, monkeypatch):
    """`models list` reads the catalogue, the store and the demo model without torch, diffusers or transformers."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    code = (
        "import contextlib, io\nfrom ldm_studio.cli import main\nout = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n    code = main(['models', 'list'])\n"
        "assert code == 0, code\nassert 'ldm-text2im-large-256' in out.getvalue(), out.getvalue()\n"
        "assert 'demo' in out.getvalue()"
    )
    assert _loaded_after(code) == []


def test_the_family_registry_loads_no_torch():
    """Asking the registry (catalogue checks, model folders, the Models dialog) must not import the engine."""
    code = (
        "from ldm_studio.core.families.registry import family_names, family_of_pipeline\n"
        "from ldm_studio.core.models.model_folder import read_model_info\n"
        "from ldm_studio.core.models.demo_model import demo_model_path\n"
        "assert 'multi' in family_names() and family_of_pipeline('LDMTextToImagePipeline') is not None\n"
        "assert read_model_info(demo_model_path()).family == 'multi'"
    )
    assert _loaded_after(code) == []


def test_generate_as_a_program_writes_and_reports_everything_before_its_fast_exit(tmp_path):
    """`python -m ldm_studio generate` ends without the interpreter's teardown: its output must all be there."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["LDM_STUDIO_HOME"] = str(tmp_path / "home")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "ldm_studio", "generate", "--prompt", "a lake", "--seed", "2", "--steps", "3"]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (png,) = out.glob("*.png")
    assert done.stdout.strip() == str(png)  # piped stdout flushed before the exit
    assert "1 image(s), 3 steps" in done.stderr
    logs = [p.read_text(encoding="utf-8") for p in (tmp_path / "home").rglob("ldm-studio.log")]
    assert any("CPU threads:" in text for text in logs)  # the log handler flushed and closed


def test_main_with_arguments_returns_instead_of_exiting(tmp_path):
    """Callers of `main(argv)` (tests, the benchmarks) get the exit status back: only the program exits early."""
    import gc

    from ldm_studio.cli import main

    code = main(["generate", "--prompt", "a lake", "--seed", "2", "--steps", "2", "--quiet", "--out", str(tmp_path)])
    assert code == 0 and len(list(tmp_path.glob("*.png"))) == 1
    assert gc.isenabled()  # the collector paused for the command is back on


@pytest.mark.parametrize(
    "argv",
    [
        [*command, "--help"]
        for command in (
            ["batch"], ["convert"], ["gui"], ["train-demo"], ["fit-preview"], ["eval-demo"],
            ["models", "list"], ["models", "download"], ["models", "import"],
            ["models", "remove"], ["models", "verify"],
        )
    ],
)
def test_every_subcommand_help_loads_nothing_heavy(argv):
    code = (
        "import contextlib, io\nfrom ldm_studio.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    main({argv!r})"
    )
    assert _loaded_after(code) == []
