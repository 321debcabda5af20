"""The synthetic markets as presets: a ``DataFile`` whose file is generated on first use.

The canonical CSV of each market is written (atomically) to ``RLTRADE_SYNTH_DIR`` (default
``$XDG_CACHE_HOME/rltrade/synthetic``, else ``~/.cache/rltrade/synthetic``) the first time its
path is asked for; the loader then reads and validates it like any shipped file and checks its
sha256 against the one recorded here (so a generator that stopped being bit-stable, or an
edited cache file, fails loudly with ``DataIntegrityError``; delete the cache file to rebuild).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from envs.preset_types import DataFile, Preset
from envs.synthetic.markets import csv_bytes

# sha256 of the canonical CSV bytes (envs.synthetic.markets.csv_bytes); tests re-derive them.
SYNTH_SHA256 = {
    "synth-regime": "ea1b7f53f33686f0ffa73e2adb0274335a73d46d81ae487d01808859e3aace6e",
    "synth-meanrev": "6d53f143f5707e1adf687c524c89750be0c76fd669d03901177cec0a14b22372",
    "synth-rw": "721bee6392d7f15af009d6505c39fef343d84d636eb415047992600d68a5147e",
    # the planted cross-sectional market (a portfolio universe: envs.synthetic.XS_UNIVERSE)
    "synth-xs-regime": "698a2128f6634b5e1a85a4997b4b9045bef9d55fe2feb5e24e48c181ef80591f",
    "synth-xs-rw1": "4c55f721fdd6bc24f70aee9b8a378a351f500dcd63dae90abf507d17281db779",
    "synth-xs-rw2": "15797ed22ab7acfde58862a57dd59e11b53f61a9e36538b709f9eb033785772b",
}


def synth_dir() -> Path:
    """Folder of the generated files (created on demand)."""
    env = os.environ.get("RLTRADE_SYNTH_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "rltrade" / "synthetic"


@dataclass(frozen=True)
class SyntheticFile(DataFile):
    """A generated candle file: ``path`` materialises it from the seeded generator if absent."""

    market: str = ""

    @property
    def path(self) -> Path:
        path = synth_dir() / self.filename
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{self.filename}.")
            with os.fdopen(fd, "wb") as fh:
                fh.write(csv_bytes(self.market))
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        return path


def synthetic_presets() -> dict[str, Preset]:
    """``synth-regime``, ``synth-meanrev``, ``synth-rw`` and the cross-sectional market's
    ``synth-xs-*``: hourly, no funding, the real splits."""
    return {
        name: Preset(
            name=name, candles=SyntheticFile(f"{name}_1h.csv", sha, market=name), funding=None
        )
        for name, sha in SYNTH_SHA256.items()
    }
