"""Issue 21, probes 17-19 and 31-34: a hostile settings file or recipe PNG never stops or freezes the window."""

from __future__ import annotations

import json
import time

import pytest
from qt_helpers import make_window

from ldm_studio.core.files.recipe import A1111_KEY, RECIPE_KEY
from ldm_studio.core.generation.requests import MAX_PROMPT_CHARS
from ldm_studio.widgets.settings_store import settings_path
from tests.hostile.helpers import bomb_png, png_with_text, semantic_recipe


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00garbage \x80\x81",  # 31: not UTF-8
        json.dumps({"sampler": {"batch": 99999999999999}}).encode(),  # 32: out of the spin box's range
        b"[" * 50_000 + b"]" * 50_000,  # 33: nested too deeply for the parser
    ],
    ids=["not-utf8", "huge-batch", "deep-list"],
)
def test_a_damaged_settings_file_is_set_aside_and_the_window_opens(qtbot, content):
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    window = make_window(qtbot)
    assert window.isVisible()
    assert 1 <= window.sampler.batch.value() <= window.sampler.batch.maximum()
    if content.startswith(b"{"):  # a valid file: kept, the value clamped
        assert window.sampler.batch.value() == window.sampler.batch.maximum()
    else:
        assert "using defaults" in window.settings.problem
        assert list(path.parent.glob("settings.json.damaged-*"))
    window.close()


def test_a_settings_file_with_a_huge_prompt_opens_at_once(qtbot):
    """34: a 5 MB prompt without spaces (set aside for its size); a 1 MB one is cut to the prompt limit."""
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    for size in (5_000_000, 1_000_000):
        path.write_text(json.dumps({"conditioning": {"prompt": "x" * size}}), encoding="utf-8")
        start = time.perf_counter()
        window = make_window(qtbot)
        assert time.perf_counter() - start < 20
        assert len(window.conditioning.text.prompt.toPlainText()) <= MAX_PROMPT_CHARS
        window.close()


def test_hostile_recipe_pngs_give_a_message_and_never_freeze(qtbot, window, tmp_path):
    """11-19 through File > Open image: an error line in the window, no exception, bounded time."""
    cases = {
        "deep.png": {RECIPE_KEY: "[" * 100_000},
        "bomb.png": {RECIPE_KEY: semantic_recipe(bomb_png())},
        "model.png": {RECIPE_KEY: json.dumps({"version": 1, "model": "abc", "settings": {}, "condition": {}})},
        "spaces.png": {A1111_KEY: "a " * 32_000 + "\nSteps: 3"},
        "long.png": {A1111_KEY: "x" * 900_000 + "\nSteps: 3"},
    }
    for name, chunks in cases.items():
        path = png_with_text(tmp_path / name, chunks)
        start = time.perf_counter()
        ok = window.open_image(str(path))
        assert time.perf_counter() - start < 5, name
        if ok:
            assert len(window.conditioning.text.prompt.toPlainText()) <= MAX_PROMPT_CHARS
        else:
            assert name in window.last_error and "\n" not in window.last_error
