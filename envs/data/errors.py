"""Errors raised by the data layer.

Every message names the file (or source), the row/line and timestamp where it
applies, what is wrong and what to do about it. All are ``ValueError``s so a
caller that only knows "bad input" can catch them generically.
"""

from __future__ import annotations


class DataValidationError(ValueError):
    """A data file or frame breaks the candle/funding contract (base class)."""


class DataIntegrityError(DataValidationError):
    """A shipped preset file's sha256 differs from the hash recorded in envs.presets."""


class DataQualityError(DataValidationError):
    """The data are well-formed but not usable enough (the cleaning gate, or bad ticks
    under ``outliers="raise"``)."""
