"""Hostile inputs of the portfolio commands (issue 21): ``agents.ppo --env A,B`` (a universe) and
``evaluate.portfolio``. Each case: (id, module, argv, fragment), run by tests/test_cli_abuse.py
(exit 2, one ``error:`` line containing ``fragment``, no traceback, nothing written).
``fixtures`` makes damaged portfolio run folders: {pf_empty} (no policy.json), {pf_badjson}
(policy.json not JSON), {pf_badmode} (mode 'short_only'), {pf_pickle} (a weight file that is a
pickle of code, not plain tensors).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

UNI = ["--env", "btc1h,eth1h"]
SPEC = {
    "members": ["btc1h", "eth1h"], "feature_set": "core17", "window": 32, "n_features": 15,
    "mode": "long_only", "gross_cap": 1.0, "net": {"d_model": 32, "mixer": "mean"},
    "rebalance_band": 0.05, "action_map": "logits",
}  # fmt: skip


def _ppo(cid: str, extra: list[str], frag: str, mod: str = "agents.ppo") -> tuple:
    return (cid, mod, [*UNI, *extra, "--run-dir", "{new}"], frag)


CASES: list[tuple[str, str, list[str], str]] = [
    _ppo("portfolio ppo timesteps 0", ["--timesteps", "0"], "--timesteps 0 is out of range"),
    _ppo("portfolio ppo gamma 2", ["--gamma", "2"], "--gamma 2.0 is out of range"),
    _ppo("portfolio ppo band 1", ["--rebalance-band", "1"], "--rebalance-band 1.0 is out of"),
    _ppo("portfolio ppo mode short_only", ["--mode", "short_only"], "invalid choice: 'short_only'"),
    _ppo("portfolio ppo single-market flag", ["--warm-start", "x.pt"], "unrecognized arguments"),
    _ppo("portfolio sac", [], "trained by python -m agents.ppo only", mod="agents.sac"),
    ("portfolio ppo repeated member", "agents.ppo", ["--env", "btc1h,btc1h", "--run-dir", "{new}"],
     "give each member once"),
    ("portfolio ppo empty member", "agents.ppo", ["--env", "btc1h,,eth1h", "--run-dir", "{new}"],
     "no empty one"),
    ("portfolio evaluate nothing", "evaluate.portfolio", ["--split", "test"],
     "give --env A,B (a universe) and/or --run RUN"),
    ("portfolio evaluate fee -1", "evaluate.portfolio", [*UNI, "--fee-bps", "-1"],
     "--fee-bps -1.0: must be in [0, 10000] bps"),
    ("portfolio evaluate not a run", "evaluate.portfolio", ["--run", "{pf_empty}"],
     "no policy.json: not a portfolio run"),
    ("portfolio evaluate policy.json garbage", "evaluate.portfolio", ["--run", "{pf_badjson}"],
     "policy.json: not valid JSON"),
    ("portfolio evaluate policy mode bad", "evaluate.portfolio", ["--run", "{pf_badmode}"],
     "mode='short_only' is missing or invalid"),
    ("portfolio evaluate weights a pickle", "evaluate.portfolio", ["--run", "{pf_pickle}"],
     "best_policy.pt: not a plain tensor file"),
]  # fmt: skip


class _Code:
    """A pickle that would run code if unpickled without weights_only."""

    def __reduce__(self) -> tuple:
        return (print, ("this must never run",))


def fixtures(tmp: Path) -> dict[str, str]:
    """Damaged portfolio run folders (see the module doc)."""
    out = {}
    for name, text in (
        ("pf_empty", None),
        ("pf_badjson", "{not json"),
        ("pf_badmode", json.dumps({**SPEC, "mode": "short_only"})),
        ("pf_pickle", json.dumps(SPEC)),
    ):
        folder = tmp / name
        folder.mkdir()
        if text is not None:
            (folder / "policy.json").write_text(text)
        out[name] = str(folder)
    (tmp / "pf_pickle" / "best_policy.pt").write_bytes(pickle.dumps({"x": _Code()}))
    return out
