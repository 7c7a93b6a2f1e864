"""Building hostile files for the probes of issue 21: bombs, truncated PNGs, odd text chunks."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header declares `width`×`height` 8-bit gray pixels (the data is one empty row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def small_png(size: int = 8, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_with_text(path: Path, chunks: dict[str, str], pixels: np.ndarray | None = None) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    image = Image.fromarray(pixels if pixels is not None else np.zeros((8, 8, 3), np.uint8))
    image.save(path, format="PNG", pnginfo=info)
    return path


def recipe_json(**overrides) -> dict:
    recipe = {
        "version": 1,
        "model": {"name": "m", "hash": "h", "family": "semantic"},
        "condition": {"kind": "text", "prompt": "a cat", "negative": ""},
        "settings": {"sampler": "ddim", "steps": 5, "guidance": 1.0, "eta": 0.0, "seed": 1, "batch_size": 1,
                     "width": 64, "height": 64},
    }  # fmt: skip
    recipe.update(overrides)
    return recipe


def semantic_recipe(map_bytes: bytes) -> str:
    condition = {"kind": "semantic", "label_set": "coco-stuff-182", "map_png": base64.b64encode(map_bytes).decode()}
    return json.dumps(recipe_json(condition=condition))
