"""Label schemes on hand-made price paths, causality/truncation, gaps, purge and embargo."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervised.labels import (
    BUY,
    HOLD,
    MASKED,
    SELL,
    LabelSpec,
    class_shares,
    labels_for_candles,
    make_labels,
    purge_for_split,
    trailing_log_vol,
)


def _labels(o, h, l_, c, spec, seg=None):
    n = len(c)
    seg = np.zeros(n, dtype=np.int64) if seg is None else np.asarray(seg)
    return make_labels(
        np.asarray(o, float),
        np.asarray(h, float),
        np.asarray(l_, float),
        np.asarray(c, float),
        seg,
        spec,
    )


# open/close for the threshold examples; high/low are irrelevant to this scheme.
OPEN = [100, 100, 102, 99, 100, 100]
CLOSE = [100, 101, 102, 98, 100, 100.5]


def test_threshold_next_open_hand_computed():
    # h=2, entry = open[t+1], exit = close[t+2]:
    # t=0: 102/100 - 1 = +2.00%  > 1%  BUY
    # t=1:  98/102 - 1 = -3.92%  < -1% SELL
    # t=2: 100/99  - 1 = +1.01%  > 1%  BUY
    # t=3: 100.5/100-1 = +0.50%        HOLD
    # t=4, 5: forward window past the data end: masked
    spec = LabelSpec("threshold", 2, {"threshold": 0.01})
    assert _labels(OPEN, OPEN, OPEN, CLOSE, spec).tolist() == [BUY, SELL, BUY, HOLD, MASKED, MASKED]


def test_threshold_cost_raises_the_bar():
    # 5 bps round trip: the bar is 1.05%; t=2's +1.0101% no longer clears it.
    spec = LabelSpec("threshold", 2, {"threshold": 0.01, "cost_bps": 5})
    assert _labels(OPEN, OPEN, OPEN, CLOSE, spec).tolist() == [
        BUY,
        SELL,
        HOLD,
        HOLD,
        MASKED,
        MASKED,
    ]


def test_threshold_entry_close():
    # entry = close[t]: t=0 102/100 +2% BUY; t=1 98/101 -2.97% SELL; t=2 100/102 -1.96% SELL;
    # t=3 100.5/98 +2.55% BUY.
    spec = LabelSpec("threshold", 2, {"threshold": 0.01, "entry": "close"})
    assert _labels(OPEN, OPEN, OPEN, CLOSE, spec).tolist() == [BUY, SELL, SELL, BUY, MASKED, MASKED]


def test_threshold_never_crosses_a_gap():
    # segments [0,0,0 | 1,1,1]: t=1 and t=2 would need bars of segment 1 -> masked.
    spec = LabelSpec("threshold", 2, {"threshold": 0.01})
    seg = [0, 0, 0, 1, 1, 1]
    assert _labels(OPEN, OPEN, OPEN, CLOSE, spec, seg).tolist() == [
        BUY,
        MASKED,
        MASKED,
        HOLD,
        MASKED,
        MASKED,
    ]


def test_threshold_vol_scaled_hand_computed():
    # closes 100, 101, 100, 101, then entry/exit; vol_window=3 uses 3 log returns ending at t=3:
    # +-ln(1.01) alternating: l=ln(1.01)=0.00995; returns [l, -l, l], mean l/3,
    # var (ddof 1) = (2*(2l/3)^2 + (4l/3)^2)/2 = 4l^2/3 -> sigma = 2l/sqrt(3) = 0.011490.
    # thr = 1.0 * sigma * sqrt(h=1) = 1.149%; r = close[4]/open[4]-1.
    c = [100, 101, 100, 101, 102.2, 101]
    o = [100, 100, 101, 100, 101, 102.2]
    spec = LabelSpec("threshold", 1, {"vol_scaled": True, "vol_window": 3})
    lab = _labels(o, o, o, c, spec)
    # t=0..2: trailing window incomplete; t=3: 102.2/101-1 = 1.188% > 1.149% BUY;
    # t=4: 101/102.2-1 = -1.17%; sigma over [l,-l,+ln(102.2/101)] -> compute, see below.
    assert lab[:3].tolist() == [MASKED] * 3
    assert lab[3] == BUY
    lr = np.log(np.array(c[2:5]) / np.array(c[1:4]))
    thr4 = lr.std(ddof=1)
    assert lab[4] == (SELL if 101 / 102.2 - 1 < -thr4 else HOLD)
    assert lab[5] == MASKED
    sig = trailing_log_vol(np.array(c, float), np.zeros(6, np.int64), 3)
    assert sig[3] == pytest.approx(2 * np.log(1.01) / np.sqrt(3), rel=1e-12)


def _path_from_log_returns(rets, start=100.0):
    """Bar 0 is a flat decision bar at ``start``; bar k>=1 opens at the previous close."""
    c = [start]
    for r in rets:
        c.append(c[-1] * np.exp(r))
    o = [start, *c[:-1]]
    return o, c


def test_forward_sharpe_hand_computed():
    # forward 1-bar log returns 0.01, 0.02, 0.03: mean 0.02, std(ddof 1) 0.01 -> 2.0 > k -> BUY.
    o, c = _path_from_log_returns([0.01, 0.02, 0.03])
    spec = LabelSpec("forward_sharpe", 3, {"k": 0.5})
    assert _labels(o, o, o, c, spec)[0] == BUY
    # cost 300 bps: (0.02 - 0.03/3)/0.01 = 1.0 > 0.5 -> BUY; 600 bps: (0.02-0.02)/0.01 = 0 -> HOLD
    assert (
        _labels(o, o, o, c, LabelSpec("forward_sharpe", 3, {"k": 0.5, "cost_bps": 300}))[0] == BUY
    )
    assert (
        _labels(o, o, o, c, LabelSpec("forward_sharpe", 3, {"k": 0.5, "cost_bps": 600}))[0] == HOLD
    )
    # k=2.5 > 2.0 -> HOLD
    assert _labels(o, o, o, c, LabelSpec("forward_sharpe", 3, {"k": 2.5}))[0] == HOLD
    o, c = _path_from_log_returns([-0.01, -0.02, -0.03])
    assert _labels(o, o, o, c, spec)[0] == SELL
    o, c = _path_from_log_returns([0.01, -0.01, 0.0])  # mean 0 -> HOLD
    assert _labels(o, o, o, c, spec)[0] == HOLD
    # the first forward return is measured from the fill price open[1], not close[0]
    o, c = _path_from_log_returns([0.01, 0.02, 0.03])
    c2 = list(c)
    c2[0] = 50.0  # bar 0's close is irrelevant with next-open entry
    assert _labels(o, o, o, c2, spec)[0] == BUY


def _tb(forward_bars, **params):
    """Three flat warm-up bars at 100 (vol_window=2), decision at t=2, then the forward bars."""
    bars = [(100, 100, 100, 100)] * 3 + list(forward_bars)
    o, h, l_, c = (np.array([b[i] for b in bars], float) for i in range(4))
    p = {"barrier_mult": 0.0, "min_return": 0.02, "vol_window": 2, **params}
    return _labels(o, h, l_, c, LabelSpec("triple_barrier", len(forward_bars), p))


def test_triple_barrier_hand_computed():
    # entry open[3]=100; w = 2%: upper 102, lower 98.
    up_first = [(100, 101, 99.5, 100.5), (100.5, 102.5, 99, 101), (101, 101, 96.9, 97.5)]
    lab = _tb(up_first)
    assert lab[:2].tolist() == [MASKED, MASKED]  # trailing vol window incomplete
    assert lab[2] == BUY  # bar 4 touches 102 first; the later touch of 98 does not matter
    down_first = [(100, 100.5, 97.9, 98.5), (98.5, 103, 98, 102), (102, 102, 101, 101)]
    assert _tb(down_first)[2] == SELL
    tie = [(100, 102.1, 97.9, 100), (100, 101, 99, 100), (100, 101, 99, 100)]
    assert _tb(tie)[2] == HOLD  # both barriers inside one bar: ambiguous -> HOLD
    inside = [(100, 101, 99, 100), (100, 101.5, 99, 101), (101, 101.9, 100, 101)]
    assert _tb(inside)[2] == HOLD
    assert _tb(inside, vertical="sign")[2] == BUY  # 101/100 - 1 > 0
    # cost 100 bps widens to 103 / 97: up_first no longer touches 103; bar 5's 96.9 hits 97.
    assert _tb(up_first, cost_bps=100)[2] == SELL


def test_triple_barrier_vol_scaled_width():
    # closes 100, 101, 100 -> returns [ln1.01, ln(100/101)], sigma = |2 ln 1.01|/sqrt(2) = 0.014072
    # h = 2 -> w = sigma*sqrt(2) = 2 ln 1.01 = 0.0199; upper = 101.99; bar 3 high 101.98: no,
    # bar 4 high 102.0: BUY.
    o = [100, 100, 101, 100, 101.5]
    c = [100, 101, 100, 101.5, 101.8]
    h = [100, 101, 101, 101.98, 102.0]
    l_ = [100, 100, 100, 99.0, 101.0]
    spec = LabelSpec("triple_barrier", 2, {"barrier_mult": 1.0, "vol_window": 2})
    lab = _labels(o, h, l_, c, spec)
    assert lab.tolist() == [MASKED, MASKED, BUY, MASKED, MASKED]


def test_label_spec_roundtrip_and_errors():
    spec = LabelSpec("triple_barrier", 12, {"barrier_mult": 2.0})
    d = spec.to_dict()
    assert d["params"]["barrier_mult"] == 2.0 and d["params"]["entry"] == "next_open"
    assert LabelSpec.from_dict(d) == spec
    with pytest.raises(ValueError, match="unknown label scheme 'foo'"):
        LabelSpec("foo")
    with pytest.raises(ValueError, match="unknown params"):
        LabelSpec("threshold", 6, {"k": 1.0})
    with pytest.raises(ValueError, match="horizon must be >= 2"):
        LabelSpec("forward_sharpe", 1)


def test_labels_for_candles_uses_index_gaps(make_candles):
    df = make_candles(200, seed=3)
    df = df.drop(df.index[100])  # a gap after bar 99
    spec = LabelSpec("threshold", 6, {"threshold": 0.005})
    lab = labels_for_candles(df, spec)
    # positions 94..99 would need bars of the next segment; 193..198 run past the data end
    assert (lab[94:100] == MASKED).all() and (lab[:94] >= 0).all()
    assert (lab[100:193] >= 0).all() and (lab[193:] == MASKED).all()
    assert class_shares(lab).sum() == pytest.approx(1.0)


SPECS = [
    LabelSpec("threshold", 4, {"threshold": 0.005}),
    LabelSpec("threshold", 3, {"vol_scaled": True, "vol_window": 5, "vol_mult": 0.5}),
    LabelSpec("forward_sharpe", 4, {"k": 0.1, "cost_bps": 10}),
    LabelSpec("triple_barrier", 5, {"vol_window": 4, "barrier_mult": 0.7}),
    LabelSpec("triple_barrier", 3, {"vol_window": 3, "vertical": "sign", "entry": "close"}),
]


def _random_path(seed: int, n: int):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    o = np.concatenate([[100.0], c[:-1]]) * np.exp(0.001 * rng.standard_normal(n))
    hi = np.maximum(o, c) * (1 + 0.005 * rng.random(n))
    lo = np.minimum(o, c) * (1 - 0.005 * rng.random(n))
    seg = np.cumsum(rng.random(n) < 0.05)
    return o, hi, lo, c, seg


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), which=st.integers(0, len(SPECS) - 1), cut=st.integers(10, 70))
def test_truncation_future_beyond_horizon_and_other_segments_do_not_matter(seed, which, cut):
    spec = SPECS[which]
    o, hi, lo, c, seg = _random_path(seed, 80)
    base = make_labels(o, hi, lo, c, seg, spec)
    # scramble every bar from `cut` on: labels with t + h < cut are unchanged
    o2, hi2, lo2, c2 = (a.copy() for a in (o, hi, lo, c))
    rng = np.random.default_rng(seed + 1)
    for a in (o2, hi2, lo2, c2):
        a[cut:] *= np.exp(0.05 * rng.standard_normal(80 - cut))
    new = make_labels(o2, hi2, lo2, c2, seg, spec)
    keep = np.arange(80) + spec.horizon < cut
    np.testing.assert_array_equal(base[keep], new[keep])
    # a valid label's forward window never crosses a gap
    t = np.flatnonzero(base >= 0)
    assert (seg[t + spec.horizon] == seg[t]).all()
    # scrambling every other segment changes nothing in segment s
    s = seg[cut]
    other = seg != s
    o3, hi3, lo3, c3 = (a.copy() for a in (o, hi, lo, c))
    for a in (o3, hi3, lo3, c3):
        a[other] *= 1.3
    new3 = make_labels(o3, hi3, lo3, c3, seg, spec)
    np.testing.assert_array_equal(base[~other], new3[~other])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), which=st.sampled_from([0, 2]), t0=st.integers(5, 60))
def test_forward_part_never_reads_bar_t_or_earlier(seed, which, t0):
    # threshold (fixed) and forward_sharpe with next-open entry read bars t+1..t+h only
    spec = SPECS[which]
    o, hi, lo, c, seg = _random_path(seed, 80)
    base = make_labels(o, hi, lo, c, seg, spec)
    o2, hi2, lo2, c2 = (a.copy() for a in (o, hi, lo, c))
    for a in (o2, hi2, lo2, c2):
        a[: t0 + 1] *= 1.7
    new = make_labels(o2, hi2, lo2, c2, seg, spec)
    np.testing.assert_array_equal(base[t0:], new[t0:])


def test_purge_and_embargo_hand_checked():
    t = np.arange(30)
    # split [10, 20), horizon 3: label window t+1..t+3 must stay < 20 -> t <= 16;
    # embargo 2 bars after the boundary at 10 (the later split's side) -> t >= 12.
    keep = purge_for_split(t, 10, 20, horizon=3, embargo_bars=2)
    assert t[keep].tolist() == [12, 13, 14, 15, 16]
    assert t[purge_for_split(t, 0, 10, horizon=1)].tolist() == list(range(9))
    assert t[purge_for_split(t, 20, 30, horizon=0, embargo_bars=5)].tolist() == list(range(25, 30))
