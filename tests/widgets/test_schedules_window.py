"""Schedules in the window: the prompt box shows the parsed schedule, generating and restoring keep it; the
timeline's branch offers another sampler and its recipe re-makes the switch."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from qt_helpers import JOB_TIMEOUT_MS

from ldm_studio.core.files.recipe import RECIPE_KEY


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_the_prompt_box_shows_the_schedule_and_the_recipe_keeps_it(qtbot, window):
    tab = window.conditioning.text
    window.sampler.steps.setValue(10)
    tab.prompt.clear()
    qtbot.keyClicks(tab.prompt, "a red cat [0.4] a blue dog")
    assert tab.hint.isVisibleTo(tab) and tab.hint.text() == "prompt: steps 1-4: a red cat · 5-10: a blue dog"
    window.sampler.steps.setValue(5)  # the hint follows the sampler panel's steps
    assert tab.hint.text() == "prompt: steps 1-2: a red cat · 3-5: a blue dog"
    qtbot.keyClicks(tab.negative, "[blurry:sharp:3]")
    assert tab.hint.text().splitlines()[1] == "negative: steps 1-3: blurry · 4-5: sharp"

    window.sampler.guidance_schedule.setText("4 [0.5] 2")
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.generate() is not None
    [path] = blocker.args[1]
    with Image.open(path) as image:
        recipe = json.loads(image.text[RECIPE_KEY])
        parameters = image.text["parameters"]
    assert recipe["condition"]["prompt"] == "a red cat [0.4] a blue dog"
    assert recipe["settings"]["guidance_schedule"] == "4 [0.5] 2"
    assert parameters.startswith("[a red cat:a blue dog:0.4]\nNegative prompt: [blurry:sharp:3]\n")

    tab.prompt.setPlainText("a plain prompt")
    tab.negative.clear()
    assert not tab.hint.isVisibleTo(tab)
    window.sampler.guidance_schedule.clear()
    assert window.open_image(path)
    assert tab.prompt.toPlainText() == "a red cat [0.4] a blue dog"
    assert window.sampler.guidance_schedule.text() == "4 [0.5] 2"
    assert tab.hint.text().startswith("prompt: steps 1-2: a red cat")
    window.grab().save("/tmp/h17s_prompt_hint.png")

    tab.prompt.setPlainText("a [red|blue] cat")
    assert "alternation" in tab.hint.text()
    assert window.generate() is None and "alternation" in window.last_error


def test_the_branch_offers_a_sampler_switch_and_its_recipe_remakes_it(qtbot, window):
    window.sampler.steps.setValue(5)
    window.sampler.sampler.setCurrentIndex(window.sampler.sampler.findData("ddim"))
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.generate() is not None
    [parent_file] = blocker.args[1]
    panel = window.timeline.panel
    offered = [panel.branch_sampler.itemData(i) for i in range(panel.branch_sampler.count())]
    assert offered[0] is None and {"euler", "dpmpp_2m", "euler_a", "unipc"} <= set(offered)
    assert not {"ddim", "plms", "heun", "dpmpp_2m_karras", "lcm"} & set(offered)

    panel.strip.set_current(2)
    panel.branch_sampler.setCurrentIndex(panel.branch_sampler.findData("euler"))
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(panel.branch_button, Qt.MouseButton.LeftButton)
    [branch_file] = blocker.args[1]
    with Image.open(branch_file) as image:
        recipe = json.loads(image.text[RECIPE_KEY])
    assert recipe["settings"]["sampler"] == "euler" and recipe["branch"]["changed"]["sampler"] == ["ddim", "euler"]
    assert recipe["branch"]["step"] == 2
    # a plausible continuation: close to the parent (DDIM with eta 0 is Euler in sigma space)
    diff = np.abs(_pixels(branch_file).astype(int) - _pixels(parent_file).astype(int))
    assert diff.mean() < 8

    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.timeline.remake_branch(branch_file) is not None
    assert np.array_equal(_pixels(blocker.args[1][0]), _pixels(branch_file))
