"""Recognise a file that is not a readable candle table before pandas trips over it.

Each case becomes one ``DataValidationError`` line naming the file, what it
looks like and the fix (never a codec or zlib traceback):

* a ``.gz`` that is not gzip (plain text named .gz) or is truncated/corrupt
  (likewise ``.bz2``, ``.xz``, ``.zip``);
* UTF-16 text (a byte-order mark or NUL bytes between ASCII letters);
* binary data (NUL or control bytes);
* text that is not UTF-8 (latin-1 / cp1252 accents), named with the line;
* a parquet file that is not parquet (no ``PAR1`` magic) or cannot be read.

Bounds (a 300 KB gzip bomb used to take 2.2 GB of memory): the whole text,
decompressed, is streamed once before pandas reads it and refused when it is
larger than ``max_input_bytes()`` (512 MiB by default: ten years of 1-minute
candles are ~420 MB of CSV; ``RLTRADE_MAX_INPUT_MB`` raises it) or when a line
is longer than ``MAX_LINE_BYTES`` (a candle line is under 200 bytes; the
longest header seen, CryptoDataDownload's, is under 100).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from envs.data.errors import DataValidationError, quote

SAMPLE_BYTES = 1 << 16
CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 4096
DEFAULT_MAX_INPUT_MB = 512
MAX_INPUT_ENV = "RLTRADE_MAX_INPUT_MB"
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_TEXT_CONTROL = set(range(32)) - {9, 10, 13}
_MAGIC = {".gz": _GZIP_MAGIC, ".bz2": b"BZh", ".xz": b"\xfd7zXZ", ".zip": b"PK\x03\x04"}
_CODEC = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zip": "zip"}


def max_input_bytes() -> int:
    """The cap on a file's (decompressed) size: ``RLTRADE_MAX_INPUT_MB`` MiB, else 512 MiB."""
    text = os.environ.get(MAX_INPUT_ENV, "").strip()
    try:
        mb = float(text) if text else DEFAULT_MAX_INPUT_MB
    except ValueError:
        mb = -1.0
    if not 0 < mb < 1e9:
        raise DataValidationError(
            f"{MAX_INPUT_ENV}={quote(text)}: not a size in MiB; set a positive number, e.g. 2048"
        )
    return int(mb * (1 << 20))


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(SAMPLE_BYTES)


def compression(path: Path) -> str | None:
    """The compression a CSV's suffix names (``.gz``, ``.bz2``, ``.xz``, ``.zip``), else None."""
    suffix = path.suffix.lower()
    if suffix == ".zst":
        raise DataValidationError(
            f"{path}: zstd-compressed CSV is not supported; decompress it (zstd -d) or gzip it"
        )
    return suffix if suffix in _MAGIC else None


def _open(path: Path, kind: str | None) -> IO[bytes]:
    if kind == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if kind == ".bz2":
        return bz2.open(path, "rb")
    if kind == ".xz":
        return lzma.open(path, "rb")
    if kind == ".zip":
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise DataValidationError(
                f"{path}: a zip archive must hold exactly one CSV file, found {len(names)}; "
                "unzip it and give the CSV"
            )
        return archive.open(names[0])
    return open(path, "rb")


def _chunks(path: Path, kind: str | None) -> Iterator[bytes]:
    """The file's (decompressed) bytes in chunks; a damaged archive is one line."""
    if kind is not None and not _head(path).startswith(_MAGIC[kind]):
        raise DataValidationError(
            f"{path}: named {kind} but not {_CODEC[kind]}-compressed (starts with "
            f"{quote(_head(path)[:8])}); rename it without {kind} if it is plain CSV, or "
            "compress it again"
        )
    try:
        with _open(path, kind) as fh:
            while block := fh.read(CHUNK_BYTES):
                yield block
    except (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
        if kind is None or isinstance(exc, PermissionError):
            raise  # a plain file's read error is the machine's, not a damaged archive
        detail = quote(" ".join(str(exc).split()), 200)
        raise DataValidationError(
            f"{path}: truncated or corrupt {_CODEC[kind]} file ({detail}); download or compress "
            "it again (gzip -t FILE checks a .gz)"
        ) from None


def scan_text(path: Path) -> bytes:
    """Stream the whole (decompressed) CSV once: refuse it past the size or line-length bounds
    or when it is not UTF-8 text; return its first ``SAMPLE_BYTES`` bytes."""
    limit = max_input_bytes()
    head, total, line_no, line_len = b"", 0, 1, 0
    for block in _chunks(path, compression(path)):
        if not head:
            head = block[:SAMPLE_BYTES]
            check_text(path, head)
        total += len(block)
        if total > limit:
            raise DataValidationError(
                f"{path}: more than {limit / (1 << 20):,.0f} MiB of text once decompressed (a "
                "compression bomb, or a bigger file than a candle file needs); split the file by "
                f"date, or raise the cap with {MAX_INPUT_ENV}=<MiB> if it really is this big"
            )
        parts = block.split(b"\n")
        for k, part in enumerate(parts):
            line_len += len(part)
            if line_len > MAX_LINE_BYTES:
                raise DataValidationError(
                    f"{path}: line {line_no} is longer than {MAX_LINE_BYTES:,} bytes (starts "
                    f"{quote(part[:40])}); a candle line is under 200 bytes: this is not a candle "
                    "file, or a damaged one (missing line breaks?)"
                )
            if k < len(parts) - 1:
                line_no, line_len = line_no + 1, 0
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
            f"{path}: binary data, not a CSV text file (first bytes {quote(data[:8])}); give a "
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


def sniff_csv(path: Path) -> bytes:
    """Refuse a CSV(.gz) that is not UTF-8 text or breaks the bounds (see the module doc);
    return its first decompressed bytes (the format detection reads them)."""
    return scan_text(path)


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


def check_size(path: Path, decoded_bytes: int | None = None) -> None:
    """Refuse a binary table (parquet, feather, JSON) whose file or decoded size is past the cap."""
    limit = max_input_bytes()
    size = max(path.stat().st_size, decoded_bytes or 0)
    if size > limit:
        raise DataValidationError(
            f"{path}: {size / (1 << 20):,.0f} MiB of data, more than the {limit / (1 << 20):,.0f} "
            f"MiB cap; split the file by date, or raise the cap with {MAX_INPUT_ENV}=<MiB>"
        )
