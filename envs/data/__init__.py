"""The data layer: load (validate or refuse), report quality, clean (drop, never fill).

Usage::

    from envs.data import load_candles, quality_report, clean
    candles = load_candles("btc1h")     # sha256-checked, validated, UTC index
    quality_report(candles)["gaps"]     # 122 missing hours in the shipped file
    cleaned, report = clean(candles)    # zero-volume/flat/bad-tick bars dropped, nothing filled
    print(report.summary())

CLI: ``python -m envs.data report btc1h`` / ``python -m envs.data clean PATH --out x.csv.gz``
/ ``resample PATH --to 4h --out FILE`` / ``fetch --exchange binance --symbol SOL/USDT ...``.
Market specs (preset, path, catalog entry): ``envs.markets.resolve_market``; bar sizes:
``envs.barsize``.
"""

from envs.data.cleaning import CleaningReport, clean, load_clean
from envs.data.errors import DataIntegrityError, DataQualityError, DataValidationError
from envs.data.loading import file_sha256, load_candles, load_funding, read_candles_raw
from envs.data.quality import bar_flags, quality_report
from envs.data.resample import ResampleReport, resample

__all__ = [
    "CleaningReport",
    "DataIntegrityError",
    "DataQualityError",
    "DataValidationError",
    "ResampleReport",
    "bar_flags",
    "clean",
    "file_sha256",
    "load_candles",
    "load_clean",
    "load_funding",
    "quality_report",
    "read_candles_raw",
    "resample",
]
