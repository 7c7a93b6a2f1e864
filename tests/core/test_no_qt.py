"""`ldm_studio.core` must work where Qt cannot even be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_core_imports_and_samples_without_pyside6(tiny_text_model):
    script = textwrap.dedent(
        f"""
        import sys, pkgutil, importlib
        sys.modules["PySide6"] = None  # any `import PySide6...` now raises ImportError
        sys.modules["shiboken6"] = None
        import ldm_studio.core as core
        for mod in pkgutil.walk_packages(core.__path__, "ldm_studio.core."):
            importlib.import_module(mod.name)
        from ldm_studio.core.generation.device import choose_device
        from ldm_studio.core.generation.engine import Engine
        from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
        engine = Engine(choose_device("cpu"))
        engine.load({str(tiny_text_model)!r})
        settings = SamplerSettings(steps=2, width=64, height=64)
        result = engine.generate(GenerationRequest(TextCondition("a cat"), settings))
        assert result.images.shape == (1, 64, 64, 3)
        assert not any(name.startswith(("PySide6", "shiboken6")) and sys.modules[name] is not None
                       for name in sys.modules)
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
