"""One lookup finds the shipped assets: an installed `ldm_studio/resources/` first, else the checkout's `resources/`."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import ldm_studio
from ldm_studio import resources_path

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_reads_the_top_level_resources():
    assert not (Path(ldm_studio.__file__).parent / "resources").exists()  # the assets live at the top only
    assert resources_path.resources_dir() == ROOT / "resources"
    for parts in (("catalogue.json",), ("labels", "coco_stuff_182.json"), ("icons", "ldm-studio-256.png")):
        assert resources_path.resource_path(*parts).is_file(), parts


def test_an_installed_copy_wins(tmp_path, monkeypatch):
    """A wheel or the PyInstaller bundle has `ldm_studio/resources/` inside the package: that one is used."""
    package = tmp_path / "site-packages" / "ldm_studio"
    (package / "resources" / "labels").mkdir(parents=True)
    monkeypatch.setattr(resources_path, "resources", SimpleNamespace(files=lambda name: package))
    assert resources_path.resource_path("labels", "x.json") == package / "resources" / "labels" / "x.json"
