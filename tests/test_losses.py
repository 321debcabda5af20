"""Imbalance losses on tiny hand-computed examples, and the post-hoc logit correction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from supervised.diagnostics import balanced_accuracy
from supervised.logit_correction import LogitCorrection, fit_logit_correction
from supervised.losses import class_prior, class_weights, make_loss

PRIOR = np.array([0.25, 0.5, 0.25])
LOGITS = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.0], [0.5, 0.5, 3.0], [2.0, 1.0, 0.0]])
TARGET = torch.tensor([0, 1, 2, 1])


def _ce_rows(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row CE by the formula: -z_y + log sum_j exp z_j."""
    return -z[np.arange(len(y)), y] + np.log(np.exp(z).sum(axis=1))


def test_class_prior_and_weights():
    lab = np.array([0, 1, 1, 2, -1, 1, 0, 2])  # -1 is masked: counts 2, 3, 2
    np.testing.assert_allclose(class_prior(lab), [2 / 7, 3 / 7, 2 / 7])
    # inverse weights on prior (.25, .5, .25): 1/p = (4, 2, 4), scaled so sum p*w = 1 -> /3
    np.testing.assert_allclose(class_weights(PRIOR, 1.0).numpy(), [4 / 3, 2 / 3, 4 / 3], rtol=1e-6)
    with pytest.raises(ValueError, match=r"class counts \[2, 3, 0\]"):
        class_prior(np.array([0, 1, 1, 0, 1]))


def test_none_is_plain_cross_entropy():
    z, y = LOGITS.numpy().astype(np.float64), TARGET.numpy()
    loss = make_loss("none", PRIOR)(LOGITS, TARGET).item()
    assert loss == pytest.approx(_ce_rows(z, y).mean(), rel=1e-6)


@pytest.mark.parametrize("name,power", [("inverse", 1.0), ("sqrt", 0.5)])
def test_weighted_ce_equals_formula(name, power):
    z, y = LOGITS.numpy().astype(np.float64), TARGET.numpy()
    w = PRIOR**-power
    wy = w[y]
    expected = (wy * _ce_rows(z, y)).sum() / wy.sum()  # weighted mean, scale of w cancels
    assert make_loss(name, PRIOR)(LOGITS, TARGET).item() == pytest.approx(expected, rel=1e-6)
    assert expected != pytest.approx(_ce_rows(z, y).mean(), rel=1e-3)  # weights matter here


def test_focal_gamma0_is_ce_and_gamma2_hand_value():
    ce = make_loss("none", PRIOR)(LOGITS, TARGET).item()
    assert make_loss("focal", PRIOR, gamma=0.0)(LOGITS, TARGET).item() == pytest.approx(
        ce, rel=1e-6
    )
    # p = (.5, .25, .25), target 0: FL = -(1 - .5)^2 * ln .5 = 0.25 ln 2
    z = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    fl = make_loss("focal", PRIOR, gamma=2.0)(z, torch.tensor([0])).item()
    assert fl == pytest.approx(0.25 * math.log(2), rel=1e-6)


def test_logit_adjusted_is_ce_on_shifted_logits():
    # zero logits shifted by log prior -> softmax = prior; target HOLD (p = .5): loss = ln 2
    z = torch.zeros(1, 3)
    la = make_loss("logit_adjusted", PRIOR, tau=1.0)
    assert la(z, torch.tensor([1])).item() == pytest.approx(math.log(2), rel=1e-6)
    zz, y = LOGITS.numpy().astype(np.float64), TARGET.numpy()
    tau = 0.7
    expected = _ce_rows(zz + tau * np.log(PRIOR), y).mean()
    got = make_loss("logit_adjusted", PRIOR, tau=tau)(LOGITS, TARGET).item()
    assert got == pytest.approx(expected, rel=1e-6)


def test_make_loss_errors():
    with pytest.raises(ValueError, match="unknown loss/class-weights 'bogus'"):
        make_loss("bogus", PRIOR)
    with pytest.raises(ValueError, match="do not apply"):
        make_loss("inverse", PRIOR, gamma=2.0)
    with pytest.raises(ValueError, match="positive and sum to 1"):
        make_loss("none", np.array([0.0, 0.5, 0.5]))


def _biased_logits(n: int = 3000, seed: int = 0):
    """Informative logits plus a +2.5 HOLD offset: argmax collapses onto HOLD."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    z = rng.standard_normal((n, 3))
    z[np.arange(n), y] += 1.5
    z[:, 1] += 2.5
    return z, y


def test_balanced_accuracy_correction_undoes_a_constant_bias():
    z, y = _biased_logits()
    before = balanced_accuracy(y, z.argmax(1))
    corr = fit_logit_correction(z, y, "balanced_accuracy")
    after = balanced_accuracy(y, corr.apply(z).argmax(1))
    oracle = balanced_accuracy(y, (z - [0, 2.5, 0]).argmax(1))
    assert before < 0.5 and after >= oracle - 1e-12
    assert corr.bias[1] == 0.0 and corr.bias[0] > 1.5 and corr.bias[2] > 1.5
    assert LogitCorrection.from_dict(corr.to_dict()).bias.tolist() == corr.bias.tolist()


def test_prior_match_matches_mean_probability_to_label_prior():
    z, y = _biased_logits(seed=1)
    corr = fit_logit_correction(z, y, "prior_match")
    s = corr.apply(z)
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(p.mean(0), np.bincount(y, minlength=3) / len(y), atol=1e-6)
    assert fit_logit_correction(z, y, "none").bias.tolist() == [0.0, 0.0, 0.0]
