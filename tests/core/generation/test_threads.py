"""Thread counts: every core headless, the window's share, --threads and the setting, said in the log."""

from __future__ import annotations

import logging
import threading

import pytest
import torch

from ldm_studio.cli import build_parser, main
from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation import threads
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.threads import GUI_SPARE_CORE_FROM, available_cores, check_threads, plan_threads


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


@pytest.mark.parametrize("cores", [1, 2, 4, 8])
def test_headless_uses_every_core(no_env, cores):
    assert plan_threads(cores=cores).count == cores


def test_the_count_does_not_follow_the_load(no_env, monkeypatch):
    """The CPU result depends on the thread count: the same command must get the same count (and pixels)
    whatever the machine's load figures say a moment later."""
    from ldm_studio.core.generation import threads

    counts = set()
    for load in (0.0, 1.9, 8.5):
        monkeypatch.setattr(threads.os, "getloadavg", lambda load=load: (load, load, load), raising=False)
        counts.add(plan_threads(cores=2).count)
    assert counts == {2}


def test_window_leaves_a_core_only_from_the_measured_size(no_env):
    assert plan_threads(gui=True, cores=1).count == 1
    assert plan_threads(gui=True, cores=GUI_SPARE_CORE_FROM).count == GUI_SPARE_CORE_FROM - 1
    assert plan_threads(gui=True, cores=8).count == 7


def test_asked_for_and_environment_win(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert plan_threads(cores=8).count == 3 and "OMP_NUM_THREADS" in plan_threads(cores=8).reason
    assert plan_threads(5, cores=8).count == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    assert plan_threads(cores=8).count == 8


def test_cores_follow_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert available_cores() == 3


def test_bad_count_is_a_one_line_error():
    with pytest.raises(RequestError, match="--threads: must be 1 or more"):
        check_threads(0)


def test_engine_applies_its_plan_in_the_sampling_thread_and_logs_it(caplog):
    engine = Engine(choose_device("cpu"), plan_threads(3))
    seen = []

    def sampler_thread():
        engine.prepare_thread()
        seen.append(torch.get_num_threads())
        engine.set_threads(plan_threads(2))
        engine.prepare_thread()
        seen.append(torch.get_num_threads())

    with caplog.at_level(logging.INFO, logger="ldm_studio.core.generation.threads"):
        worker = threading.Thread(target=sampler_thread)
        worker.start()
        worker.join()
    assert seen == [3, 2]
    assert "CPU threads: 3 thread(s) as asked" in caplog.text


@pytest.mark.parametrize("command", ["generate", "batch", "convert", "train-demo"])
def test_headless_commands_take_threads(command):
    extra = {
        "generate": [],
        "batch": ["spec.json", "--model", "m", "--out", "o"],
        "convert": ["--config", "c", "--checkpoint", "k", "--out", "o"],
        "train-demo": ["--out", "o"],
    }[command]
    args = build_parser().parse_args([command, *extra, "--threads", "3"])
    assert args.threads == 3


def test_generate_rejects_zero_threads(capsys, tiny_text_model):
    assert main(["generate", "--model", str(tiny_text_model), "--prompt", "x", "--threads", "0"]) == 2
    assert "--threads: must be 1 or more" in capsys.readouterr().err
