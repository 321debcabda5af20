"""The action rules at serving time (agents.serving.served_rules): agents.predict serves the
position the env would trade under the model's rules (minimum hold, volatility target, leverage
cap), paper trading keeps the position on held and missed bars, a file too short for the
volatility estimate is refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from hand_market import hand_market
from test_predict_fast import _ppo_run

from agents.predict import main
from agents.serving.model_registry import promote
from agents.serving.paper_trading import _position
from agents.serving.served_rules import check_rule_history, rule_lookback
from envs.accounting import Account
from envs.data import load_candles
from envs.params import EnvParams

RULES = {"min_hold": 6, "vol_target": 0.5, "vol_window": 48, "max_leverage": 2.0}


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rules")
    run = _ppo_run(tmp / "run", [])
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["env"].update(RULES)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return promote(run, "ppo_rules", tmp / "models", market="btc1h")


def _decide(version, capsys, *flags: str) -> dict:
    root = str(version.parent.parent)
    args = ["--model", "ppo_rules", "--root", root, "--candles", "data/btcusdt_1h.csv.gz",
            "--replay", "--json", *flags]  # fmt: skip
    assert main(args) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_predict_serves_the_volatility_targeted_position(version, capsys):
    assert rule_lookback(version) == 49  # vol_window + 1 bars join the candle tail
    d = _decide(version, capsys)
    close = load_candles("data/btcusdt_1h.csv.gz")["close"].to_numpy()[-49:]
    r = np.diff(np.log(close))
    sigma = math.sqrt(float(np.mean((r - r.mean()) ** 2))) * math.sqrt(8760)
    assert d["action_target"] == d["action"] - 1
    expected = max(min(d["action_target"] * 0.5 / sigma, 2.0), -2.0)
    assert d["target_position"] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_predict_keeps_the_position_during_the_minimum_hold(version, capsys):
    flags = ["--position", "1.5", "--entry-price", "30000"]
    held = _decide(version, capsys, *flags, "--bars-since-trade", "5")  # 5 < min_hold 6
    assert held["target_position"] == 1.5
    free = _decide(version, capsys, *flags, "--bars-since-trade", "6")
    assert free["target_position"] == _decide(version, capsys)["target_position"]


def test_a_file_too_short_for_the_volatility_estimate_is_refused():
    params = EnvParams(vol_target=0.5, vol_window=10).in_bars(3_600_000_000_000)
    with pytest.raises(
        ValueError, match=r"needs 10 returns before the decision bar .* --tail-bars"
    ):
        check_rule_history(hand_market(), params, 5, "f.csv")
    check_rule_history(hand_market(), EnvParams(), 5, "f.csv")  # no volatility target: no need


def test_paper_holds_the_position_on_held_and_missed_bars():
    m, p = hand_market(), EnvParams(min_hold=3)
    acct = Account(t=2, pos=1.0, since=1)
    assert _position({"action": 0}, acct, m, p) == 1.0  # a decision inside the hold: kept
    acct.since = 3
    assert _position({"action": 0}, acct, m, p) == -1.0  # the hold expired: the flip
    assert _position({"action": 0, "held": True}, acct, m, p) == 1.0  # no decision: kept
    assert _position({"action": 0, "missed": True}, acct, m, p) == 1.0
