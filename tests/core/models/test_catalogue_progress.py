"""The catalogue file and the progress arithmetic (speed, ETA, throttling, cancel)."""

from __future__ import annotations

import json
import threading

import pytest

from ldm_studio.core.errors import DownloadCancelled, FileFormatError
from ldm_studio.core.models.catalogue import load_catalogue
from ldm_studio.core.models.manager.progress import ProgressTracker


def test_builtin_catalogue_has_the_real_ldms():
    cat = load_catalogue(extra=[])
    assert {n: e.family for n, e in cat.items() if e.kind == "controlnet"} == {
        "sd-controlnet-seg": "sd",
        "control_v11p_sd15_seg": "sd",
    }
    assert {n: e.family for n, e in cat.items() if e.kind == "model"} == {
        "ldm-text2im-large-256": "text",
        "ldm-celebahq-256": "uncond",
        "ldm-super-resolution-4x-openimages": "superres",
        "txt2img-f8-large": "text",
        "cin256-v2": "class",
        "cin256": "class",
        "celeba256": "uncond",
        "ffhq256": "uncond",
        "lsun-churches256": "uncond",
        "lsun-bedrooms256": "uncond",
        "text2img256": "text",
        "semantic-synthesis-256": "semantic",
        "semantic-synthesis-512": "semantic",
        "bsr-sr": "superres",
        "inpainting-big": "inpaint",
        "stable-diffusion-v1-5": "sd",
        "sd-turbo": "sd",
        "sdxl-base-1.0": "sdxl",
        "sdxl-turbo": "sdxl",
    }
    assert cat["ldm-celebahq-256"].repo_id == "CompVis/ldm-celebahq-256"
    assert cat["ldm-super-resolution-4x-openimages"].repo_id == "CompVis/ldm-super-resolution-4x-openimages"
    assert cat["cin256-v2"].downloads[0].url.endswith("/latent-diffusion/nitro/cin/model.ckpt")
    assert cat["semantic-synthesis-256"].downloads[0].unpack == "zip"
    for entry in cat.values():  # unknown facts are None, not guesses
        assert entry.license and (entry.size_bytes is None or entry.size_bytes > 0)
        if entry.source_type == "original":  # configs pinned to the released HEAD, a506df5
            config = next(d for d in entry.downloads if d.save_as == entry.config)
            assert "a506df5" in config.url or "cin256-v2" in config.url
            assert entry.defaults and {"steps", "eta", "guidance"} <= set(entry.defaults)
    # the README's settings
    assert cat["txt2img-f8-large"].defaults == {"sampler": "ddim", "steps": 50, "guidance": 5.0, "eta": 0.0}
    assert cat["txt2img-f8-large"].tokenizer == "vocab.txt" and "5.7 GB" in cat["txt2img-f8-large"].size_note
    assert (cat["ffhq256"].defaults["steps"], cat["ffhq256"].defaults["eta"]) == (200, 1.0)
    assert (cat["lsun-churches256"].defaults["steps"], cat["lsun-churches256"].defaults["eta"]) == (400, 0.0)


def test_builtin_catalogue_has_the_sd_components():
    cat = load_catalogue(extra=[])
    components = {n: (e.family, e.role, e.repo_id) for n, e in cat.items() if e.kind == "component"}
    assert components == {
        "taesd": ("sd", "preview_decoder", "madebyollin/taesd"),
        "taesdxl": ("sdxl", "preview_decoder", "madebyollin/taesdxl"),
        "sdxl-vae-fp16-fix": ("sdxl", "vae", "madebyollin/sdxl-vae-fp16-fix"),
    }
    assert all(cat[n].license == "mit" and cat[n].size_label for n in components)


def test_a_component_entry_is_checked():
    from ldm_studio.core.models.catalogue import parse_catalogue

    hub = {"type": "hub", "repo_id": "a/b"}
    with pytest.raises(FileFormatError, match=r"models\[0\].*role must be one of preview_decoder, vae"):
        parse_catalogue({"models": [{"name": "c", "family": "sd", "kind": "component", "source": hub}]}, "x")
    with pytest.raises(FileFormatError, match="kind must be"):
        parse_catalogue({"models": [{"name": "c", "family": "sd", "kind": "lora", "source": hub}]}, "x")
    (entry,) = parse_catalogue(
        {"models": [{"name": "c", "family": "sd", "kind": "component", "role": "vae", "source": hub}]}, "x"
    )
    assert (entry.kind, entry.role) == ("component", "vae")


def test_catalogue_defaults_and_tokenizer_are_checked(tmp_path):
    from ldm_studio.core.models.catalogue import parse_catalogue

    source = {"type": "original", "downloads": [{"url": "https://x/m.ckpt"}], "checkpoint": "m.ckpt", "config": "c"}
    bad = {"models": [{"name": "a", "family": "uncond", "defaults": {"steps": "many"}, "source": source}]}
    with pytest.raises(FileFormatError, match=r"defaults\.steps"):
        parse_catalogue(bad, "cat.json")
    bad = {"models": [{"name": "a", "family": "uncond", "source": {**source, "tokenizer": "vocab.txt"}}]}
    with pytest.raises(FileFormatError, match=r"source\.tokenizer"):
        parse_catalogue(bad, "cat.json")


def test_catalogue_is_extended_and_overridden_by_extra_files(tmp_path, monkeypatch):
    extra = tmp_path / "more.json"
    mirror = {"type": "hub", "repo_id": "someone/celeba-mirror"}
    extra.write_text(json.dumps({"models": [{"name": "ldm-celebahq-256", "family": "uncond", "source": mirror}]}))
    monkeypatch.setenv("LDM_STUDIO_CATALOGUE", str(extra))
    assert load_catalogue()["ldm-celebahq-256"].repo_id == "someone/celeba-mirror"

    extra.write_text(json.dumps({"models": [{"name": "x", "family": "video", "source": mirror}]}))
    with pytest.raises(FileFormatError, match=r"models\[0\]: unknown family 'video'"):
        load_catalogue()


def test_tracker_reports_speed_eta_and_throttles():
    now = [0.0]
    events = []
    tracker = ProgressTracker(events.append, interval=0.1, clock=lambda: now[0])
    tracker.start("downloading", "f", total=1000)
    for _ in range(10):
        now[0] += 0.25
        tracker.add(50)
    tracker.add(0)  # within the interval: swallowed
    last = events[-1]
    assert last.bytes_done == 500 and last.fraction == 0.5
    assert last.speed == pytest.approx(200, rel=0.01)  # 50 bytes / 0.25 s
    assert last.eta == pytest.approx(2.5, rel=0.01)
    assert len(events) == 11
    assert "ETA" in last.describe()


def test_tracker_raises_when_cancelled():
    cancel = threading.Event()
    tracker = ProgressTracker(None, cancel)
    tracker.add(1)
    cancel.set()
    with pytest.raises(DownloadCancelled):
        tracker.add(1)
