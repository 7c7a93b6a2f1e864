"""Fuzzing the readers of untrusted files (issue 21): the recipe reader, the map reader, the batch-spec reader.

A seeded generator mutates valid files (bit flips, truncation, repeated and inserted structure,
swapped chunks) and asserts, for every mutant, that the reader returns or raises the project's
own error, within a time and a memory bound. Seeded, so a failure reproduces; bounded, so it
runs in CI (a few seconds).
"""

from __future__ import annotations

import io
import json
import random
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ldm_studio.core.batch import read_spec
from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.files.outputs import write_png_atomic
from ldm_studio.core.files.recipe import A1111_KEY, RECIPE_KEY, read_png_recipe
from ldm_studio.core.maps.semantic_maps import read_map_file
from tests.hostile.helpers import bomb_png, recipe_json, semantic_recipe

CASES = 120
TIME_LIMIT_S = 2.0
MEMORY_LIMIT = 256 << 20
STRUCTURE = [b"[", b"{", b'"', b"\\", b",", b":", b"\n", b"\0", b"\xff", b"Steps: ", b"IDAT", b"tEXt", b"9" * 12]


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        at = rng.randrange(len(out) + 1)
        if kind == 0 and out:  # flip bits
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        elif kind == 1:  # truncate
            del out[at:]
        elif kind == 2:  # insert structure, sometimes many times
            out[at:at] = rng.choice(STRUCTURE) * rng.choice((1, 3, 1000, 20_000))
        elif kind == 3 and out:  # duplicate a slice
            j = rng.randrange(len(out))
            out[at:at] = out[min(at, j) : max(at, j)][:50_000]
        elif kind == 4 and out:  # overwrite with a random 32-bit value (lengths, sizes)
            out[at : at + 4] = rng.randbytes(4)
        else:  # delete a slice
            del out[at : at + rng.randint(1, 64)]
    return bytes(out)


def check_bounded(read: Callable[[Path], object], path: Path, data: bytes) -> None:
    path.write_bytes(data)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        read(path)
    except LdmStudioError as exc:
        assert "\n" not in str(exc).strip() or "cannot be used" in str(exc), str(exc)[:200]
        assert len(str(exc)) < 2000
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < TIME_LIMIT_S, f"{elapsed:.1f} s on {data[:60]!r}"
    assert peak < MEMORY_LIMIT, f"{peak >> 20} MB on {data[:60]!r}"


def recipe_seeds(tmp_path: Path) -> list[bytes]:
    pixels = np.zeros((8, 8, 3), np.uint8)
    files = []
    for chunks in (
        {RECIPE_KEY: json.dumps(recipe_json())},
        {RECIPE_KEY: semantic_recipe(bomb_png(16, 16))},
        {A1111_KEY: 'a cat\nNegative prompt: dog\nSteps: 20, Sampler: DDIM, CFG scale: 5, Seed: 3, Model: "x, y"'},
    ):
        path = write_png_atomic(tmp_path / "seed.png", pixels, chunks)
        files.append(path.read_bytes())
    return files


def map_seeds() -> list[bytes]:
    indices = (np.arange(64 * 64).reshape(64, 64) // 300 % 182).astype(np.uint8)
    seeds = []
    for mode in ("L", "P", "RGB"):
        buffer = io.BytesIO()
        Image.fromarray(indices).convert(mode).save(buffer, format="PNG")
        seeds.append(buffer.getvalue())
    return seeds


SPEC_SEEDS = {
    ".json": json.dumps({"defaults": {"steps": 2}, "template": "{index}.png", "rows": [{"prompt": "a", "seed": 1}]}),
    ".jsonl": '{"prompt": "a", "seed": 1}\n{"prompt": "b", "batch": 2}\n',
    ".csv": "prompt,seed,steps\na cat,1,2\nsea,2,3\n",
}


RECIPE_TEXTS = [
    (RECIPE_KEY, json.dumps(recipe_json())),
    (RECIPE_KEY, semantic_recipe(bomb_png(16, 16))),
    (A1111_KEY, 'a cat\nNegative prompt: dog\nSteps: 20, Sampler: DDIM, CFG scale: 5, Seed: 3, Model: "x, y"'),
]


def test_fuzz_recipe_reader(tmp_path):
    rng = random.Random(21)
    seeds = recipe_seeds(tmp_path)
    pixels = np.zeros((4, 4, 3), np.uint8)
    for i in range(CASES):
        if i % 2:  # the bytes of the file
            check_bounded(read_png_recipe, tmp_path / "fuzz.png", mutate(rng.choice(seeds), rng))
            continue
        key, text = rng.choice(RECIPE_TEXTS)  # the text inside a well-formed chunk
        mutated = mutate(text.encode(), rng).decode("latin-1")
        data = write_png_atomic(tmp_path / "chunk.png", pixels, {key: mutated}).read_bytes()
        check_bounded(read_png_recipe, tmp_path / "fuzz.png", data)


def with_size(png: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR's declared size replaced (and its CRC fixed, so only the size is wrong)."""
    body = png[12:16] + struct.pack(">II", width, height) + png[24:29]
    return png[:8] + png[8:12] + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + png[33:]


def test_fuzz_map_reader(tmp_path):
    rng = random.Random(2121)
    seeds = map_seeds()
    for i in range(CASES):
        data = mutate(rng.choice(seeds), rng)
        if i % 3 == 0:
            size = rng.choice((0, 1, 65, 4097, 20_000, 65_535, 2**31 - 1))
            data = with_size(rng.choice(seeds), size, rng.choice((64, size, 3 * size)))
        check_bounded(read_map_file, tmp_path / "fuzz-map.png", data)


@pytest.mark.parametrize("suffix", sorted(SPEC_SEEDS))
def test_fuzz_batch_spec_reader(tmp_path, suffix):
    rng = random.Random(212121)
    seed = SPEC_SEEDS[suffix].encode()
    for _ in range(CASES):
        check_bounded(read_spec, tmp_path / f"fuzz{suffix}", mutate(seed, rng))
