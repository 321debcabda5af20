"""Errors raised by the data layer.

Every message names the file (or source), the row/line and timestamp where it
applies, what is wrong and what to do about it. All are ``ValueError``s so a
caller that only knows "bad input" can catch them generically.

Every message is bounded: a value quoted from a file goes through ``quote``
(at most ``QUOTE_CHARS`` characters) and a whole message is cut at
``MAX_MESSAGE_CHARS`` (a hostile file once produced a 314 MB error line).
"""

from __future__ import annotations

QUOTE_CHARS = 60  # a cell or line quoted in a message: enough to recognise it
MAX_MESSAGE_CHARS = 2000  # one screen line-wrap worth; the fix must stay visible


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with a note of the full length."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def bounded(message: str) -> str:
    """``message`` cut to ``MAX_MESSAGE_CHARS``, keeping its end (which holds the fix)."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    keep = MAX_MESSAGE_CHARS // 2
    return (
        f"{message[:keep]} [... {len(message) - 2 * keep:,} characters cut ...] {message[-keep:]}"
    )


class DataValidationError(ValueError):
    """A data file or frame breaks the candle/funding contract (base class)."""

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(bounded(str(message)), *args)


class DataIntegrityError(DataValidationError):
    """A shipped preset file's sha256 differs from the hash recorded in envs.presets."""


class DataQualityError(DataValidationError):
    """The data are well-formed but not usable enough (the cleaning gate, or bad ticks
    under ``outliers="raise"``)."""
