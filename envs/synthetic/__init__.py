"""Planted-signal markets: placeholder docstring (rewritten below)."""

from envs.synthetic.markets import (
    MARKET_NAMES,
    ORACLE_KINDS,
    csv_bytes,
    oracle_band,
    oracle_positions,
    series,
)

__all__ = ["MARKET_NAMES", "ORACLE_KINDS", "csv_bytes", "oracle_band", "oracle_positions", "series"]
