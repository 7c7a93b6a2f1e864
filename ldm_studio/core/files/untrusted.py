"""Reading files anyone could have written: bounded, linear in their size, and exception-safe.

Every reader here checks sizes before it allocates (file size, declared image size, declared
tensor sizes), parses in time linear in the input, and turns every way a hostile or damaged
file can fail into one `FileFormatError` naming the file. Messages never hold an unbounded
repr of what the file said (`short_repr`). One helper per kind of check, used by the map,
recipe, checkpoint, settings, manifest and batch-spec readers alike.
"""

from __future__ import annotations

import io
import json
import reprlib
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from ldm_studio.core.errors import FileFormatError

KIB, MIB = 1 << 10, 1 << 20
MAX_JSON_BYTES = 16 * MIB  # settings, batch specs, recipe JSON
MAX_YAML_BYTES = 1 * MIB  # an original config is a few KB
MAX_MAP_PIXELS = 4096 * 4096  # maps larger than any image we can make
MAX_IMAGE_PIXELS = 16384 * 16384  # a PNG whose recipe is read (its pixels are not decoded)
MAX_PNG_TEXT_BYTES = 1 * MIB  # one text chunk, after decompression
MAX_PNG_TEXT_TOTAL = 4 * MIB  # all text chunks of one PNG
MAX_SAFETENSORS_HEADER = 100 * MIB  # safetensors' own limit
LOSSY_FORMATS = {"JPEG", "MPO", "WEBP"}  # WebP may be lossless, but PIL cannot tell which

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 2, 4, 6, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 60, 60, 40


def short_repr(value: object, limit: int = 80) -> str:
    """A repr of user data that is short whatever the data (nested YAML aliases, megabyte strings)."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_text(text: str, limit: int = 200) -> str:
    """An exception's or a file's text cut to one line of at most `limit` characters."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _size_text(n: int) -> str:
    return f"{n / MIB:.1f} MB" if n >= MIB else f"{n / KIB:.0f} KB" if n >= KIB else f"{n} bytes"


def read_bytes_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of `path`, refusing folders, missing files and files over `limit` before reading them."""
    file = Path(path).expanduser()
    try:
        with file.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise FileFormatError(file, "no such file") from None
    except IsADirectoryError:
        raise FileFormatError(file, f"is a folder, not a {what}") from None
    except OSError as exc:
        raise FileFormatError(file, f"cannot be read ({exc.strerror or short_text(str(exc))})") from None
    if len(data) > limit:
        raise FileFormatError(file, f"is larger than the {_size_text(limit)} a {what} may have")
    return data


def decode_text(file: object, data: bytes, what: str = "file") -> str:
    """UTF-8 (with or without BOM) text, or FileFormatError saying where the first bad byte is."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(file, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def read_text_bounded(path: str | Path, limit: int, what: str = "file") -> str:
    file = Path(path).expanduser()
    return decode_text(file, read_bytes_bounded(file, limit, what), what)


def parse_json(file: object, text: str | bytes, where: str = "") -> Any:
    """`json.loads`, with a bad or too deeply nested document as a FileFormatError naming the file."""
    prefix = f"{where} " if where else ""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where_in = f"line {exc.lineno} column {exc.colno}"
        raise FileFormatError(file, f"{prefix}is not valid JSON ({exc.msg} at {where_in})") from None
    except RecursionError:
        raise FileFormatError(file, f"{prefix}is nested too deeply to be a JSON document of ours") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(file, f"{prefix}is not UTF-8 JSON ({short_text(str(exc), 80)})") from None


def read_json_bounded(path: str | Path, limit: int = MAX_JSON_BYTES, what: str = "JSON file") -> Any:
    file = Path(path).expanduser()
    return parse_json(file, read_text_bounded(file, limit, what))


# --- images -------------------------------------------------------------------------------------


def open_image_bounded(source: str | Path | bytes, file: object, max_pixels: int, what: str = "image") -> Any:
    """A fully loaded PIL image, refusing before decoding one whose header declares more than `max_pixels`.

    Decompression bombs, truncated files and non-images all become FileFormatError naming `file`.
    """
    from PIL import Image, UnidentifiedImageError

    stream: BinaryIO | str = io.BytesIO(source) if isinstance(source, bytes) else str(Path(source).expanduser())
    try:
        check_png_chunk_sizes(source, file)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
            try:
                width, height = image.size
                if width * height > max_pixels:
                    side = int(max_pixels**0.5)
                    raise FileFormatError(
                        file, f"declares {width}×{height} pixels; a {what} may have at most {side}×{side}"
                    )
                image.load()
            except BaseException:
                image.close()
                raise
            return image
    except FileFormatError:
        raise
    except FileNotFoundError:
        raise FileFormatError(file, "no such file") from None
    except IsADirectoryError:
        raise FileFormatError(file, f"is a folder, not a {what}") from None
    except UnidentifiedImageError:
        raise FileFormatError(file, f"is not an image file (expected a PNG {what})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        problem = short_text(str(exc), 100).split(", could be")[0]
        raise FileFormatError(file, f"is a decompression bomb: too many pixels for a {what} ({problem})") from None
    except MemoryError:
        raise FileFormatError(file, f"is too large to decode as a {what}") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, TypeError, IndexError) as exc:
        raise FileFormatError(file, f"is damaged or cannot be read as an image ({short_text(str(exc), 120)})") from None


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png_chunk_sizes(source: str | Path | bytes, file: object) -> None:
    """For a PNG, refuse a chunk that declares more bytes than the file has left, before PIL reads it.

    A flipped length field would otherwise make the reader ask for (and allocate) gigabytes. Other
    formats pass through; a missing file is left to the caller's own message.
    """
    try:
        handle: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else Path(source).expanduser().open("rb")
    except OSError:
        return
    with handle:
        if handle.read(8) != PNG_SIGNATURE:
            return
        size = handle.seek(0, io.SEEK_END)
        position = 8
        while position + 8 <= size:
            handle.seek(position)
            length, kind = struct.unpack(">I4s", handle.read(8))
            if position + 12 + length > size:
                name = kind.decode("latin-1")
                raise FileFormatError(file, f"is damaged: its {name!r} chunk declares {length} bytes past its end")
            if kind == b"IEND":
                return
            position += 12 + length


def read_png_text(path: str | Path) -> dict[str, str]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG, read chunk by chunk without decoding any pixel.

    Linear in the file size; each chunk is bounded after decompression, and so is their sum.
    """
    file = Path(path).expanduser()
    texts: dict[str, str] = {}
    total = 0
    try:
        with file.open("rb") as handle:
            if handle.read(8) != PNG_SIGNATURE:
                raise FileFormatError(file, "is not a readable image (not a PNG file)")
            while True:
                head = handle.read(8)
                if len(head) < 8:
                    raise FileFormatError(file, "is truncated (it ends before its IEND chunk)")
                length, kind = struct.unpack(">I4s", head)
                if kind == b"IEND":
                    break
                if kind in (b"tEXt", b"zTXt", b"iTXt"):
                    if length > MAX_PNG_TEXT_BYTES:
                        raise FileFormatError(file, f"has a {kind.decode()} chunk larger than {_size_text(length)}")
                    body = handle.read(length)
                    if len(body) < length:
                        raise FileFormatError(file, "is truncated (inside a text chunk)")
                    key, value = _text_chunk(file, kind, body)
                    total += len(value)
                    if total > MAX_PNG_TEXT_TOTAL:
                        raise FileFormatError(file, f"holds more than {_size_text(MAX_PNG_TEXT_TOTAL)} of text")
                    texts.setdefault(key, value)
                    handle.seek(4, io.SEEK_CUR)  # CRC
                else:
                    handle.seek(length + 4, io.SEEK_CUR)
    except FileNotFoundError:
        raise FileFormatError(file, "no such file") from None
    except IsADirectoryError:
        raise FileFormatError(file, "is a folder, not a PNG file") from None
    except OSError as exc:
        raise FileFormatError(file, f"cannot be read ({exc.strerror or short_text(str(exc))})") from None
    return texts


def _inflate(file: object, data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_PNG_TEXT_BYTES + 1)
    except zlib.error:
        raise FileFormatError(file, "has a damaged compressed text chunk") from None
    if len(out) > MAX_PNG_TEXT_BYTES:
        raise FileFormatError(file, f"has a text chunk larger than {_size_text(MAX_PNG_TEXT_BYTES)} unpacked")
    return out


def _text_chunk(file: object, kind: bytes, body: bytes) -> tuple[str, str]:
    key, sep, rest = body.partition(b"\0")
    if not sep:
        raise FileFormatError(file, f"has a damaged {kind.decode()} chunk")
    name = key.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        return name, _inflate(file, rest[1:]).decode("latin-1")
    if len(rest) < 2:
        raise FileFormatError(file, "has a damaged iTXt chunk")
    compressed, rest = rest[0], rest[2:]
    _language, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    raw = _inflate(file, text) if compressed else text
    return name, raw.decode("utf-8", "replace")


# --- checkpoints ----------------------------------------------------------------------------------

SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


def check_safetensors_header(path: str | Path) -> None:
    """Refuse a safetensors file whose header declares tensors the file does not hold, before allocating."""
    file = Path(path)
    try:
        size = file.stat().st_size
        with file.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise FileFormatError(file, "is too short to be a safetensors file")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > MAX_SAFETENSORS_HEADER or 8 + header_len > size:
                raise FileFormatError(file, f"declares a {header_len}-byte header; the file has {size} bytes")
            header = parse_json(file, handle.read(header_len), "its header")
    except OSError as exc:
        raise FileFormatError(file, f"cannot be read ({exc.strerror or short_text(str(exc))})") from None
    if not isinstance(header, dict):
        raise FileFormatError(file, "its header is not a JSON object")
    data_size = size - 8 - header_len
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shown = short_repr(name, 60)
        if not isinstance(entry, dict):
            raise FileFormatError(file, f"tensor {shown}: header entry is not an object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        width = SAFETENSORS_DTYPE_BYTES.get(dtype) if isinstance(dtype, str) else None
        if width is None:
            raise FileFormatError(file, f"tensor {shown}: unknown dtype {short_repr(dtype, 30)}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise FileFormatError(file, f"tensor {shown}: shape is not a list of sizes")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            raise FileFormatError(file, f"tensor {shown}: data offsets lie outside the file's {data_size} data bytes")
        count = 1
        for d in shape:
            count *= d
        if count * width != offsets[1] - offsets[0]:
            raise FileFormatError(
                file,
                f"tensor {shown}: shape {short_repr(shape, 40)} of {dtype} needs {count * width} bytes, "
                f"the header gives it {offsets[1] - offsets[0]}",
            )
