"""Recognise a file that is not a readable candle table before pandas trips over it.

Each case becomes one ``DataValidationError`` line naming the file, what it
looks like and the fix (never a codec or zlib traceback):

* a ``.gz`` that is not gzip (plain text named .gz) or is truncated/corrupt;
* UTF-16 text (a byte-order mark or NUL bytes between ASCII letters);
* binary data (NUL or control bytes);
* text that is not UTF-8 (latin-1 / cp1252 accents), named with the line;
* a parquet file that is not parquet (no ``PAR1`` magic) or cannot be read.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from envs.data.errors import DataValidationError

SAMPLE_BYTES = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_TEXT_CONTROL = set(range(32)) - {9, 10, 13}


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(SAMPLE_BYTES)


def _decompressed_head(path: Path) -> bytes:
    raw = _head(path)
    if not raw.startswith(_GZIP_MAGIC):
        raise DataValidationError(
            f"{path}: named .gz but not gzip-compressed (starts with {raw[:8]!r}); rename it "
            "without .gz if it is plain CSV, or compress it with gzip"
        )
    try:
        with gzip.open(path, "rb") as fh:
            head = fh.read(SAMPLE_BYTES)
            while fh.read(1 << 20):  # read to the end: a truncated stream fails here, not later
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise DataValidationError(
            f"{path}: truncated or corrupt gzip file ({' '.join(str(exc).split())}); download "
            "or compress it again (gzip -t FILE checks it)"
        ) from None
    return head


def check_text(path: Path, data: bytes) -> None:
    """Refuse UTF-16, binary and non-UTF-8 text, naming what the bytes look like."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (
        len(data) > 8 and data[1:64:2].count(0) > 16
    ):
        raise DataValidationError(
            f"{path}: UTF-16 text; save the file as UTF-8 CSV (e.g. iconv -f UTF-16 -t UTF-8)"
        )
    control = sum(b in _TEXT_CONTROL for b in data[:4096])
    if b"\x00" in data or control > 8:
        raise DataValidationError(
            f"{path}: binary data, not a CSV text file (first bytes {data[:8]!r}); give a "
            "CSV, CSV.gz or parquet candle file"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 4 and len(data) == SAMPLE_BYTES:
            return  # a multi-byte character cut by the sample's end
        line = data[: exc.start].count(b"\n") + 1
        raise DataValidationError(
            f"{path}: not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} (looks like "
            "latin-1/cp1252); re-save the file as UTF-8 (e.g. iconv -f latin1 -t UTF-8)"
        ) from None


def sniff_csv(path: Path) -> None:
    """Refuse a CSV(.gz) that is not UTF-8 text (see the module doc)."""
    data = _decompressed_head(path) if path.suffix.lower() == ".gz" else _head(path)
    check_text(path, data)


def sniff_parquet(path: Path) -> None:
    """Refuse a parquet file without the parquet magic bytes at both ends."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        start = fh.read(4)
        fh.seek(max(size - 4, 0))
        end = fh.read(4)
    if start != _PARQUET_MAGIC or end != _PARQUET_MAGIC:
        raise DataValidationError(
            f"{path}: not a parquet file (no PAR1 magic bytes; truncated or another format); "
            "write it again with DataFrame.to_parquet, or give a CSV"
        )
