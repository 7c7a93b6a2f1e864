"""The package list for setuptools: everything under ldm_studio/, plus `ldm_studio.resources`, which lives
in the top-level `resources/` (pyproject maps it there with `package-dir`; pyproject alone cannot add a
mapped package to a `find` result)."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["ldm_studio*"]), "ldm_studio.resources"])
