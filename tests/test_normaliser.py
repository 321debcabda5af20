"""RobustNormaliser: hand values, train-only fit, NaN/clip rules, serialisation and mismatches."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from envs.features import RobustNormaliser, compute_features, feature_names
from tests.conftest import synthetic_candles


def test_hand_values_and_float32():
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [10.0, 10.0, 10.0, 10.0, 10.0]})
    n = RobustNormaliser().fit(x)
    # a: median 3, IQR = 4 - 2 = 2 -> scale 2/1.349; b: constant -> scale 1
    assert_allclose(n.center, [3.0, 10.0])
    assert_allclose(n.scale, [2.0 / 1.349, 1.0])
    z = n.transform(x)
    assert z.dtype == np.float32
    assert_allclose(z[:, 0], np.array([-2, -1, 0, 1, 2]) * 1.349 / 2, rtol=1e-6)
    assert (z[:, 1] == 0).all()


def test_zero_iqr_falls_back_to_std():
    x = np.array([[0.0]] * 9 + [[10.0]])  # IQR 0 but not constant
    n = RobustNormaliser().fit(x)
    assert n.center[0] == 0.0 and n.scale[0] == pytest.approx(np.std(x))  # 3.0


def test_clip_nan_and_inf():
    n = RobustNormaliser(clip=2.0).fit(np.array([[-1.0], [0.0], [1.0]]))  # median 0, IQR 1
    z = n.transform(np.array([[100.0], [-100.0], [np.nan], [np.inf], [0.5]]))
    assert_allclose(z[[0, 1, 3, 4], 0], [2.0, -2.0, 2.0, 0.5 * 1.349], rtol=1e-6)
    assert np.isnan(z[2, 0])


def test_fit_ignores_nan_and_uses_only_mask_rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    x[:10] = np.nan  # warm-up rows
    mask = np.zeros(200, dtype=bool)
    mask[:120] = True
    a = RobustNormaliser().fit(x, mask)
    expected_center = np.nanmedian(x[:120], axis=0)
    assert_allclose(a.center, expected_center)
    y = x.copy()
    y[120:] = rng.normal(50.0, 9.0, size=(80, 3))  # val/test rows changed
    b = RobustNormaliser().fit(y, mask)
    assert_allclose(b.center, a.center)
    assert_allclose(b.scale, a.scale)
    assert_allclose(b.transform(x), a.transform(x), equal_nan=True)
    with pytest.raises(ValueError, match="mask must have shape"):
        RobustNormaliser().fit(x, mask[:-1])
    with pytest.raises(ValueError, match=r"no finite fit rows.*\['f0', 'f1', 'f2'\]"):
        RobustNormaliser().fit(x, np.arange(200) < 10)


def test_refuses_transform_before_fit():
    with pytest.raises(RuntimeError, match="before fit"):
        RobustNormaliser().transform(np.zeros((2, 2)))


def test_real_feature_frame_round_trip(tmp_path):
    feats = compute_features(synthetic_candles(600), "core17")
    train = np.arange(600) < 400
    n = RobustNormaliser().fit(feats, train)
    path = tmp_path / "normaliser.json"
    n.save(path)
    state = json.loads(path.read_text())
    assert state["feature_names"] == feature_names("core17") and state["clip"] == 5.0
    loaded = RobustNormaliser.load(path, feature_names=feature_names("core17"))
    np.testing.assert_array_equal(loaded.transform(feats), n.transform(feats))
    assert np.abs(np.nan_to_num(n.transform(feats))).max() <= 5.0
    json.dumps(RobustNormaliser.from_dict(n.to_dict()).to_dict())  # stays serialisable


def test_mismatched_feature_set_is_named(tmp_path):
    feats = compute_features(synthetic_candles(300), "core17")
    n = RobustNormaliser().fit(feats)
    n.save(tmp_path / "n.json")
    with pytest.raises(ValueError, match=r"n\.json.*missing \['mom_1'.*unexpected \['ret_1h'"):
        RobustNormaliser.load(tmp_path / "n.json", feature_names=feature_names("flagtrader60"))
    swapped = feats[[feats.columns[1], feats.columns[0], *feats.columns[2:]]]
    with pytest.raises(ValueError, match="different order: position 0 is 'mom_3'"):
        n.transform(swapped)
    with pytest.raises(ValueError, match="array has 60 columns, fitted 15"):
        n.transform(np.zeros((2, 60)))
    with pytest.raises(ValueError, match="not a RobustNormaliser"):
        RobustNormaliser.from_dict({"kind": "other"})
