"""Collapse diagnostics: hand-checked metrics and the alarm."""

from __future__ import annotations

import numpy as np
import pytest

from supervised.diagnostics import (
    balanced_accuracy,
    classifier_report,
    collapse_alarm,
    collapse_banner,
    confusion_matrix,
    macro_f1,
)

Y = np.array([0, 0, 1, 1, 1, 1, 2, 2])
P = np.array([0, 1, 1, 1, 1, 2, 2, 1])


def test_confusion_recall_balanced_accuracy_macro_f1_by_hand():
    cm = confusion_matrix(Y, P)
    assert cm.tolist() == [[1, 1, 0], [0, 3, 1], [0, 1, 1]]
    # recalls 1/2, 3/4, 1/2 -> balanced accuracy 7/12
    assert balanced_accuracy(Y, P) == pytest.approx(7 / 12)
    # F1 = 2tp/(support+predicted): SELL 2/(2+1), HOLD 6/(4+5), BUY 2/(2+2)
    assert macro_f1(cm) == pytest.approx((2 / 3 + 6 / 9 + 2 / 4) / 3)


def test_report_on_logits():
    logits = np.eye(3)[P] * 2.0  # argmax = P
    rep = classifier_report(np.vstack([logits, [[0, 0, 0]]]), np.append(Y, -1))  # -1 dropped
    assert rep.n == 8 and rep.accuracy == pytest.approx(5 / 8)
    np.testing.assert_allclose(rep.pred_shares, [1 / 8, 5 / 8, 2 / 8])
    np.testing.assert_allclose(rep.label_prior, [2 / 8, 4 / 8, 2 / 8])
    np.testing.assert_allclose(rep.mean_logit, [2 / 8, 10 / 8, 4 / 8])
    # every row is softmax(2, 0, 0): entropy is the same for all rows
    p = np.exp([2.0, 0, 0]) / np.exp([2.0, 0, 0]).sum()
    assert rep.mean_entropy == pytest.approx(-(p * np.log(p)).sum())
    assert rep.alarm is None
    assert "recall" in rep.confusion_text() and rep.to_dict()["confusion"][1] == [0, 3, 1]


def test_alarm_fires_on_degenerate_models():
    y = np.random.default_rng(0).integers(0, 3, 1000)
    all_hold = np.tile([0.0, 5.0, 0.0], (1000, 1))
    rep = classifier_report(all_hold, y)
    assert rep.alarm is not None and "COLLAPSE" in rep.alarm and "HOLD 100.0% > 90%" in rep.alarm
    assert rep.balanced_accuracy == pytest.approx(1 / 3)
    # 99% SELL (the inverse-weights failure): SELL > 90% and BUY/HOLD < 2%
    alarm = collapse_alarm(np.array([0.99, 0.006, 0.004]))
    assert "SELL 99.0% > 90%" in alarm and "BUY 0.4% < 2%" in alarm
    assert "COLLAPSE" in collapse_banner(alarm)


def test_alarm_silent_on_balanced_predictions():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 3000)
    logits = rng.standard_normal((3000, 3))
    assert classifier_report(logits, y).alarm is None
    assert collapse_alarm(np.array([0.3, 0.4, 0.3])) is None
    assert collapse_alarm(np.array([0.05, 0.89, 0.06])) is None  # inside [2%, 90%]
