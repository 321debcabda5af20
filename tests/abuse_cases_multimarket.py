"""Hostile inputs of several-market training and training randomisation (issue 20 item 4): each
refused before any training with one line (exit 2, nothing trained).

Placeholders (``fixtures``): {rand_<name>} config files with a bad ``env.randomise`` section,
{four_hour} a 4-hour candle file (a bar size other than btc1h's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

RANDOMISE = {
    "fee_order": "env:\n  randomise:\n    fee_mult: [2.0, 0.5]\n",
    "noise_neg": "env:\n  randomise:\n    obs_noise_std: -1\n",
    "unknown": "env:\n  randomise:\n    noise: 0.1\n",
    "len_long": "env:\n  episode_length: 100\n  randomise:\n    episode_length_min: 500\n",
    "weights": "env:\n  randomise:\n    market_weights: volume\n",
}

CASES: list[tuple[str, str, list[str], str]] = [
    ("ppo market twice", "agents.ppo", ["--env", "btc1h", "eth1h", "btc1h"],
     "--env names btc1h twice; name each market once"),
    ("ppo markets with one funding file", "agents.ppo",
     ["--env", "btc1h", "eth1h", "--funding", "data/btcusdt_funding.csv.gz"],
     "--funding names one funding file but --env names several markets"),
    ("ppo markets of two bar sizes", "agents.ppo", ["--env", "btc1h", "{four_hour}"],
     "its bars are 4h, btc1h's are 1h; train on markets of one bar size"),
    ("ppo randomise fee order", "agents.ppo", ["--env", "btc1h", "--config", "{rand_fee_order}"],
     "randomise.fee_mult=[2.0, 0.5] is not valid"),
    ("ppo randomise negative noise", "agents.ppo",
     ["--env", "btc1h", "--config", "{rand_noise_neg}"], "randomise.obs_noise_std=-1 is not valid"),
    ("ppo randomise unknown option", "agents.ppo",
     ["--env", "btc1h", "--config", "{rand_unknown}"], "unknown randomise option(s) ['noise']"),
    ("ppo randomise length above max", "agents.ppo",
     ["--env", "btc1h", "--config", "{rand_len_long}"],
     "randomise.episode_length_min=500 is above episode_length=100"),
    ("ppo randomise market weights", "agents.ppo",
     ["--env", "btc1h", "--config", "{rand_weights}"],
     "randomise.market_weights='volume' is not valid"),
]  # fmt: skip


def fixtures(tmp: Path) -> dict[str, str]:
    """The bad config files and a 4-hour candle file."""
    out = {}
    for name, text in RANDOMISE.items():
        path = tmp / f"rand_{name}.yml"
        path.write_text(text)
        out[f"rand_{name}"] = str(path)
    n = 400
    close = 100.0 * np.exp(np.cumsum(0.01 * np.random.default_rng(0).standard_normal(n)))
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2021-01-01", periods=n, freq="4h", tz="UTC").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": np.full(n, 10.0),
        }
    )
    path = tmp / "four_hour.csv"
    frame.to_csv(path, index=False)
    out["four_hour"] = str(path)
    return out
