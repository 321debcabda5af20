"""A tiny real tree run end to end: the CLI, evaluate's loader, the registry and predict.

The parity test: ``agents.serving.prediction.decide`` on every prefix of a short series gives exactly the
actions the evaluate runner took on that series (same account state, read from the runner's
own observations).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import agents.serving.paper_trading as paper_module
import agents.serving.prediction as predict_module
from agents.acting.loading import load_run
from agents.serving.model_registry import main as registry_main
from agents.serving.model_registry import promote, resolve
from agents.serving.paper_trading import main as paper_main
from agents.serving.paper_trading import tick
from agents.serving.prediction import StaleInputError, decide, main, serve_market
from backtest.runner import run_env
from envs.data import load_candles, load_funding
from envs.trading_env import TradingEnv
from lab.ledger import default_runs_root, ledger_path, read_records
from lab.ledger_returns import load_returns
from supervised.trees.train import cli, direction_check

pytestmark = pytest.mark.slow  # trains a tiny tree run (tens of seconds on 2 cores)

TINY = ["--n-estimators", "4", "--max-depth", "3", "--min-samples-leaf", "20", "--hgb-max-iter",
        "4", "--gb-n-estimators", "4", "--n-jobs", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def tree_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("trees") / "run"
    args = ["--env", "btc1h", "--max-train-samples", "3000", "--max-val-bars", "400",
            "--seed", "1", "--run-dir", str(d), *TINY]  # fmt: skip
    assert cli(args) == 0
    return d


@pytest.fixture(scope="module")
def registry(tree_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    promote(tree_run, "tiny", root)
    return root


def test_cli_writes_a_complete_run_and_evaluate_loads_it(tree_run):
    files = {p.name for p in tree_run.iterdir()}
    assert {"model.skops", "tree.json", "normaliser.json", "config.yaml", "command.txt",
            "meta.json", "metrics.json"} <= files  # fmt: skip
    m = json.loads((tree_run / "metrics.json").read_text())
    assert m["checks"]["label_direction"]["ok"] and m["checks"]["val_classes"]["ok"]
    assert m["val_backtest"]["n_bars"] > 1000 and np.isfinite(m["val_backtest"]["sharpe"])
    assert json.loads((tree_run / "meta.json").read_text())["data_sha256"]
    ledger = read_records("btc1h", default_runs_root())
    rec = [r for r in ledger if r["run_dir"] == str(tree_run.resolve())]
    assert [(r["source"], r["algo"]) for r in rec] == [("trees", "trees")]
    assert rec[0]["val_sharpe"] == pytest.approx(m["val_backtest"]["sharpe"])
    spec = load_run(tree_run)
    assert spec.method == "trees" and spec.name == "trees_s1"
    assert spec.env_settings == {"feature_set": "core17", "window": 32, "action": "discrete"}
    assert rec[0]["seed"] == 1  # the tree run counts as one trial in the ledger
    # its per-bar val returns are kept beside the ledger, and give back its val Sharpe
    rets = load_returns(ledger_path("btc1h", default_runs_root()), rec[0]["returns"])
    assert rets.size == m["val_backtest"]["n_bars"] == rec[0]["returns"]["n_bars"]
    sharpe = rets.mean() / rets.std(ddof=1) * np.sqrt(8760)
    assert sharpe == pytest.approx(m["val_backtest"]["sharpe"], rel=1e-9)
    # the run ends with a verdict against buy-and-hold over the same val split, and what is next
    v = m["val_verdict"]
    assert v["verdict"].startswith("val 2023-01-01 to 2023-12-31: trees (")
    sharpe, bench = m["val_backtest"]["sharpe"], v["buy_and_hold_sharpe"]
    assert f"Sharpe {sharpe:.2f} vs buy-and-hold {bench:.2f}: " in v["verdict"]
    assert ("does not beat" in v["verdict"]) == (sharpe < bench)
    assert v["next_command"].endswith(f"-m evaluate --env btc1h --split test {tree_run}")


def test_inverted_labels_fail_the_direction_check(monkeypatch, capsys):
    import supervised.trees.train as tt

    real = tt.prepare

    def flipped(cfg, data):
        prep = real(cfg, data)
        prep.train.labels[:] = 2 - prep.train.labels  # SELL <-> BUY
        return prep

    monkeypatch.setattr(tt, "prepare", flipped)
    assert (
        cli(["--env", "btc1h", "--max-train-samples", "2000", "--run-dir", "/nonexistent/x"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "label direction FAILED" in err and "inverted labels?" in err
    _ = direction_check  # the same check, called by the CLI before any folder is created


def _series(n_bars: int) -> tuple[pd.DataFrame, pd.Series]:
    candles = load_candles("btc1h")
    return candles.iloc[-1000 : -1000 + n_bars], load_funding("btc1h")


class Recorder:
    """The evaluated policy, recording the bar, the account slots and the action of each call."""

    def __init__(self, inner):
        self.inner, self.rows = inner, []

    def bind(self, market, space):
        self.inner.bind(market, space)

    def act(self, obs, bars):
        a = self.inner.act(obs, bars)
        self.rows.append((int(bars[0]), obs[0, -4:].copy(), int(a[0])))
        return a


def test_predict_on_every_prefix_equals_the_runner(registry):
    vdir, record = resolve("tiny", registry)
    spec = load_run(vdir)
    candles, funding = _series(230)
    market = serve_market(candles, funding, record, spec.normaliser)
    rec = Recorder(spec.policy)
    env = TradingEnv(market, (0, market.n_bars), max_drawdown=None)
    run_env(rec, env, "trees", periods_per_year=8760)
    assert len(rec.rows) >= 25
    step = pd.Timedelta("1h")
    for bar, acct, action in rec.rows:
        prefix = candles.iloc[: bar + 1]
        d = decide("tiny", prefix, now=prefix.index[-1] + step, root=registry, funding=funding,
                   account=acct)  # fmt: skip
        assert d.action == action, f"bar {bar}"
        assert d.bar_open_utc == prefix.index[-1].strftime("%Y-%m-%dT%H:%M:%SZ")


def test_predict_refuses_a_forming_bar_a_stale_file_and_a_gap(registry):
    candles, funding = _series(260)
    last = candles.index[-1]
    kw = {"root": registry, "funding": funding}
    with pytest.raises(StaleInputError, match="not closed"):
        decide("tiny", candles, now=last + pd.Timedelta("30min"), **kw)
    with pytest.raises(StaleInputError, match="stale"):
        decide("tiny", candles, now=last + pd.Timedelta("2h"), **kw)
    gapped = candles.drop(candles.index[-10])
    with pytest.raises(StaleInputError, match="gap"):
        decide("tiny", gapped, now=last + pd.Timedelta("1h"), **kw)


def test_cli_json_on_the_shipped_file(registry, capsys):
    assert main(["--model", "tiny", "--candles", "data/btcusdt_1h.csv.gz", "--root",
                 str(registry), "--replay", "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "tiny@v1" and out["target_position"] in (-1.0, 0.0, 1.0)
    assert set(out["probabilities"]) == {"SELL", "HOLD", "BUY"}
    assert main(["--model", "tiny", "--candles", "data/btcusdt_1h.csv.gz", "--root",
                 str(registry)]) == 2  # fmt: skip
    assert "stale" in capsys.readouterr().err


class FakeExchange:
    """Recorded candles replayed as an exchange would serve them: the bars closed by ``now``."""

    def __init__(self, candles: pd.DataFrame):
        self.candles = candles

    def closed(self, bar: int) -> tuple[pd.DataFrame, pd.Timestamp]:
        visible = self.candles.iloc[: bar + 1]
        return visible, visible.index[-1] + pd.Timedelta("1h")


def _paper(registry, state_dir, ticks):
    candles, funding = _series(230)
    ex = FakeExchange(candles)
    for bar in ticks:  # every call starts from the state on disk: a restart each time
        visible, now = ex.closed(bar)
        tick("tiny", visible, state_dir, now=now, root=registry, funding=funding)
    return json.loads((state_dir / "state.json").read_text())


def test_paper_trading_restart_continues_and_a_missed_bar_holds(registry, tmp_path):
    straight = _paper(registry, tmp_path / "a", range(205, 215))
    _paper(registry, tmp_path / "b", range(205, 210))
    resumed = _paper(registry, tmp_path / "b", range(210, 215))
    assert resumed == straight and len(straight["decisions"]) == 10
    assert straight["account"]["equity"] > 0 and straight["updated_for_bar_utc"]
    m = straight["account"]["metrics"]  # evaluate's metrics over the 9 filled bars
    assert m["total_return"] == pytest.approx(straight["account"]["equity"] - 1.0)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    curves = []
    for run in ("a", "b"):  # b's curve is written by two processes' worth of ticks
        acc = EventAccumulator(str(tmp_path / run / "tb"))
        acc.Reload()
        curves.append([(e.step, e.value) for e in acc.Scalars("paper/equity")])
    assert curves[0] == curves[1] and [s for s, _ in curves[0]] == list(range(10))
    assert curves[0][-1][1] == pytest.approx(straight["account"]["equity"])
    missed = _paper(registry, tmp_path / "c", [205, 206, 207, 211, 212, 213, 214])
    log = missed["decisions"]
    assert [d["missed"] for d in log] == [False] * 3 + [True] * 3 + [False] * 4
    assert all(d["action"] == log[2]["action"] for d in log[3:6])  # held, no new decision
    assert log[-1]["bar_open_utc"] == straight["decisions"][-1]["bar_open_utc"]


def test_predict_tail_features_equal_the_whole_file_features(registry):
    from envs import load_market

    vdir, record = resolve("tiny", registry)
    spec = load_run(vdir)
    full, _ = load_market("btc1h", "core17", 32, spec.normaliser)
    candles = load_candles("btc1h")
    tail = serve_market(candles.iloc[-800:], load_funding("btc1h"), record, spec.normaliser)
    assert tail.timestamps[-1] == full.timestamps[-1]
    np.testing.assert_array_equal(tail.features[-32:], full.features[-32:])  # the last window


class CcxtReplay:
    """Recorded btc1h candles served through ccxt's ``fetch_ohlcv`` (the only network fake)."""

    id = "binance"

    def __init__(self, candles: pd.DataFrame):
        ms = candles.index.as_unit("ms").asi8
        self.rows = [[int(t), *map(float, r)] for t, r in zip(ms, candles.to_numpy(), strict=True)]
        self.calls = 0

    def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        assert (symbol, timeframe) == ("BTC/USDT", "1h")
        self.calls += 1
        return [r for r in self.rows if r[0] >= since][:limit]


def test_predict_from_an_exchange_fetches_closed_bars_and_decides_as_from_a_file(
    registry, tmp_path, monkeypatch, capsys
):
    full = load_candles("btc1h").loc[:"2024-06-01 12:00"]
    fake = CcxtReplay(full)  # also serves the forming 12:00 bar: it must not be used
    monkeypatch.setattr(predict_module, "make_exchange", lambda name: fake)  # the network
    feed = tmp_path / "feed.csv.gz"
    args = ["--model", "tiny", "--root", str(registry), "--exchange", "binance", "--symbol",
            "BTC/USDT", "--candles-out", str(feed), "--json"]  # fmt: skip
    assert main([*args, "--now", "2024-06-01T12:05:00Z"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["bar_open_utc"] == "2024-06-01T11:00:00Z" and feed.is_file()
    now = pd.Timestamp("2024-06-01T12:05:00Z")
    want = decide("tiny", full.loc[:"2024-06-01 11:00"], now=now.to_pydatetime(),
                  root=registry, funding=load_funding("btc1h"))  # fmt: skip
    assert got["action"] == want.action and got["probabilities"] == want.probabilities
    fed = load_candles(feed)
    assert fed.index[-1] == pd.Timestamp("2024-06-01 11:00", tz="UTC") and len(fed) < 2000
    # an hour later the feed appends the newly closed bar and the decision moves on
    fake.rows.append([fake.rows[-1][0] + 3_600_000, *fake.rows[-1][1:]])
    assert main([*args, "--now", "2024-06-01T13:05:00Z"]) == 0
    assert json.loads(capsys.readouterr().out)["bar_open_utc"] == "2024-06-01T12:00:00Z"
    assert len(load_candles(feed)) == len(fed) + 1


def _ticks(registry, state_dir, candles, funding, ticks, keep=None):
    """Paper ticks on ``candles`` up to each bar; ``keep``: only the last ``keep`` bars are in
    the feed (a rotated file), else every bar from the start."""
    for bar in ticks:
        lo = 0 if keep is None else max(0, bar + 1 - keep)
        visible = candles.iloc[lo : bar + 1]
        tick("tiny", visible, state_dir, now=visible.index[-1] + pd.Timedelta("1h"),
             root=registry, funding=funding)  # fmt: skip
    return json.loads((state_dir / "state.json").read_text())


def test_paper_survives_a_rotated_feed_and_equals_the_env_replay(registry, tmp_path):
    candles, funding = _series(570)
    bars = [205, 206, 207, 380, 560, 561]
    full = _ticks(registry, tmp_path / "full", candles, funding, bars)
    rotated = _ticks(registry, tmp_path / "rot", candles, funding, bars, keep=210)
    assert candles.index[561 + 1 - 210] > pd.Timestamp(full["decisions"][0]["bar_open_utc"])
    assert rotated == full  # the first decisions left the feed: the account carried on
    log = full["decisions"]
    assert len(log) == 561 - 205 + 1 and sum(not d["missed"] for d in log) == len(bars)
    # the reference: the whole log replayed through the env on the whole series (as evaluate)
    vdir, record = resolve("tiny", registry)
    spec = load_run(vdir)
    market = serve_market(candles, funding, record, spec.normaliser)
    costs = {k: v for k, v in spec.trained_costs.items()
             if k in ("fee_bps", "slippage_bps", "funding")}  # fmt: skip
    env = TradingEnv(market, (0, market.n_bars), max_drawdown=None, episode_length=None, **costs)
    env.reset(options={"start": 205})
    equities = [env.step(int(d["action"]))[4]["equity"] for d in log[:-1]]
    assert [d["equity"] for d in log[:-1]] == equities  # bit for bit
    assert "equity" not in log[-1]  # the last decision fills at the next open
    assert full["account"]["equity"] == equities[-1]
    assert full["book"]["bar_utc"] == log[-1]["bar_open_utc"]


def test_paper_decides_every_k_bars_for_a_decision_interval_k_model(registry, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    """A model trained with decision_interval=3 decides on every third bar from its first
    decision (missed bars included) and holds in between, as evaluate backtests it."""
    calls = []

    def load_k3(vdir):
        spec = load_run(vdir)
        rec = Recorder(spec.policy)
        calls.append(rec)
        return dataclasses.replace(spec, policy=rec,
                                   env_settings={**spec.env_settings, "decision_interval": 3})  # fmt: skip

    monkeypatch.setattr(paper_module, "load_run", load_k3)
    candles, funding = _series(230)
    state = _ticks(registry, tmp_path / "k3", candles, funding, [205, 206, 207, 208, 212, 213, 214])
    log = state["decisions"]
    assert [bool(d.get("held")) for d in log] == [False, True, True, False, False, False, False,
                                                  True, True, False]  # fmt: skip
    assert [d["missed"] for d in log] == [False] * 4 + [True] * 3 + [False] * 3
    assert [log[i]["action"] for i in (1, 2)] == [log[0]["action"]] * 2
    assert [log[i]["action"] for i in (4, 5, 6, 7, 8)] == [log[3]["action"]] * 5
    decided = [r.rows[0][0] for r in calls if r.rows]  # the bars the policy was asked about
    assert [candles.index[b] for b in decided] == [pd.Timestamp(log[i]["bar_open_utc"])
                                                   for i in (0, 3, 9)]  # fmt: skip


def test_a_paper_state_from_before_the_book_continues(registry, tmp_path):
    """A state written before the account was kept (decisions only) is replayed from its first
    decision once, then carries on as a new one."""
    candles, funding = _series(260)
    straight = _ticks(registry, tmp_path / "a", candles, funding, [205, 206, 207, 215])
    _ticks(registry, tmp_path / "b", candles, funding, [205, 206, 207])
    old = json.loads((tmp_path / "b" / "state.json").read_text())
    del old["book"]
    old["decisions"] = [{k: d[k] for k in ("bar_open_utc", "action", "missed")}
                        for d in old["decisions"]]  # fmt: skip
    (tmp_path / "b" / "state.json").write_text(json.dumps(old))
    assert _ticks(registry, tmp_path / "b", candles, funding, [215]) == straight


def test_paper_refuses_a_feed_older_than_its_state_or_without_its_last_bar(registry, tmp_path):
    candles, funding = _series(570)
    state = tmp_path / "acct"
    _ticks(registry, state, candles, funding, [300, 301])
    before = (state / "state.json").read_bytes()
    old = candles.iloc[:300]
    with pytest.raises(StaleInputError) as exc:
        tick("tiny", old, state, now=old.index[-1] + pd.Timedelta("1h"), root=registry,
             funding=funding)  # fmt: skip
    iso = "%Y-%m-%dT%H:%M:%SZ"
    assert str(exc.value) == (
        f"candles: the last closed bar {candles.index[299]:{iso}} is older than the paper "
        f"account's state (last decision on bar {candles.index[301]:{iso}}); give the current "
        "candles"
    )
    late = candles.iloc[320:560]  # rotated past the account's last marked bar (301)
    with pytest.raises(StaleInputError) as exc:
        tick("tiny", late, state, now=late.index[-1] + pd.Timedelta("1h"), root=registry,
             funding=funding)  # fmt: skip
    assert str(exc.value) == (
        f"candles: no bar {candles.index[301]:{iso}} (the paper account's last marked bar); the "
        f"candles run {candles.index[320]:{iso}} .. {candles.index[559]:{iso}}: give candles from "
        f"{candles.index[301]:{iso}} on (with --tail-bars 0 if it lies further back than the "
        "default tail)"
    )
    assert (state / "state.json").read_bytes() == before  # nothing written


def test_stale_funding_is_stated_by_predict_and_paper(registry, tmp_path, capsys):
    candles, funding = _series(260)
    cut = funding.loc[: candles.index[-30]]  # the history ends 30 bars before the last close
    last_settlement = cut.index[-1]
    close = candles.index[-1] + pd.Timedelta("1h")
    age = (close - last_settlement) / pd.Timedelta("1h")
    want = (
        f"funding stale: the last settlement in the funding history is "
        f"{last_settlement:%Y-%m-%d %H:%M}Z, {age:g} h before the decision bar's close "
        f"{close:%Y-%m-%d %H:%M}Z (settlements every 8 h): the funding features carry its "
        "rate and no later funding is charged; give a current --funding FILE"
    )
    d = decide("tiny", candles, now=close, root=registry, funding=cut)
    assert d.funding_note == want and age > 8
    assert decide("tiny", candles, now=close, root=registry, funding=funding).funding_note is None
    state = tick("tiny", candles, tmp_path / "p", now=close, root=registry, funding=cut)
    assert state["funding_note"] == want
    cut_file = tmp_path / "funding.csv"
    cut.rename("funding_rate").to_frame().to_csv(cut_file)
    part = tmp_path / "part.csv"
    candles.to_csv(part)
    assert main(["--model", "tiny", "--candles", str(part), "--root", str(registry),
                 "--funding", str(cut_file), "--replay", "--json"]) == 0  # fmt: skip
    out = capsys.readouterr()
    assert out.err.strip() == f"warning: {want}"
    assert json.loads(out.out)["funding_note"] == want


def _readme_serving() -> list[list[str]]:
    """The README's Serving commands (``.venv/bin/python -m MODULE ARGS``), split, comments off."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = text.split("## Serving", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [shlex.split(ln.split("#", 1)[0]) for ln in block.splitlines() if ln.strip()]


def test_the_readme_serving_commands_run_as_written(tree_run, tmp_path, monkeypatch, capsys):
    """promote (the trees run stands for the README's run folder), predict --replay on the
    shipped file and paper on the shipped file, with the default registry root."""
    mains = {"agents.registry": registry_main, "agents.predict": main, "agents.paper": paper_main}
    cmds = _readme_serving()
    assert [c[:3] for c in cmds[:2]] == [[".venv/bin/python", "-m", "supervised.trees"],
                                        [".venv/bin/python", "-m", "agents.registry"]]  # fmt: skip
    run_dir = cmds[0][cmds[0].index("--run-dir") + 1]
    assert run_dir in cmds[1]  # promote names the folder the trees command writes
    monkeypatch.setenv("RLTRADE_MODELS_ROOT", str(tmp_path / "models"))
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    ran = []
    for cmd in cmds[1:]:
        module, argv = cmd[2], cmd[3:]
        if module not in mains or "--exchange" in argv:  # network / retraining: other tests
            continue
        if "trees_btc" not in argv and run_dir not in argv and argv != ["list"]:
            continue  # the seed-group ensemble lines: tests/test_ensemble_serving.py
        argv = [str(tree_run) if a == run_dir else a for a in argv]
        argv = [str(tmp_path / "paper") if a == "paper/" else a for a in argv]
        assert mains[module](argv) == 0, capsys.readouterr().err
        ran.append(module)
    assert ran == ["agents.registry", "agents.registry", "agents.predict", "agents.paper"]
    assert (tmp_path / "models" / "trees_btc" / "v1").is_dir()
    state = json.loads((tmp_path / "paper" / "state.json").read_text())
    assert state["updated_for_bar_utc"] == "2024-12-31T23:00:00Z" and state["funding_note"] is None
