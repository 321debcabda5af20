"""Tree-ensemble baseline: purged stacking, determinism, safe skops loading, loud checks, CLI."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import skops.io as sio

from supervised.trees import checks
from supervised.trees.ensemble import TreeSizes, TreeStack, fit_stack, oof_meta_features
from supervised.trees.persist import TRUSTED_TYPES, UntrustedModelError, load_stack, save_stack

TINY = TreeSizes(n_estimators=5, max_depth=3, min_samples_leaf=5, hgb_max_iter=5,
                 gb_n_estimators=5, gb_max_depth=2, gb_subsample=0.5)  # fmt: skip


def _synthetic(n: int = 900, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.5 * rng.normal(size=n), [-0.5, 0.5]).astype(np.int64)
    return x, y, np.arange(n) * 2  # decision bars, ascending with holes


@pytest.fixture(scope="module")
def stack() -> TreeStack:
    x, y, t = _synthetic()
    return fit_stack(x, y, t, 6, sizes=TINY, seed=3, n_jobs=2)


def test_stack_learns_and_is_calibrated_probabilities(stack):
    x, y, _ = _synthetic(seed=1)
    p = stack.predict_proba(x)
    assert p.shape == (len(x), 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p.argmax(axis=1) == y).mean() > 0.6  # chance is ~0.33


def test_same_seed_same_model(stack):
    x, y, t = _synthetic()
    again = fit_stack(x, y, t, 6, sizes=TINY, seed=3, n_jobs=2)  # parallel fit, same model
    xs, _, _ = _synthetic(seed=2)
    np.testing.assert_array_equal(stack.predict_proba(xs), again.predict_proba(xs))


def test_out_of_fold_meta_features_never_train_on_later_or_overlapping_labels(monkeypatch):
    import supervised.trees.ensemble as ens

    x, y, t = _synthetic(300)
    seen = []
    real = ens._fit_bases
    monkeypatch.setattr(
        ens, "_fit_bases", lambda xx, yy, *a: seen.append(len(xx)) or real(xx, yy, *a)
    )
    _, rows = oof_meta_features(x, y, t, 10, 2, TINY, 0, 1)
    # blocks of 100 samples (t = 0, 2, 4, ...): fold 1 predicts samples 100..199 (t 200..398);
    # training samples need t + 10 < 200, i.e. t <= 188: 95 samples; fold 2 likewise: 195
    assert seen == [95, 195]
    np.testing.assert_array_equal(rows, np.arange(100, 300))


def test_skops_round_trip_with_the_trusted_list(stack, tmp_path):
    path = save_stack(tmp_path / "model.skops", stack)
    assert set(sio.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)
    x, _, _ = _synthetic(seed=4)
    np.testing.assert_array_equal(load_stack(path).predict_proba(x), stack.predict_proba(x))


class Crafted:
    """A type no tree model contains: a crafted file carrying it must be refused."""

    def __init__(self) -> None:
        self.payload = "rm -rf /"


def test_a_file_with_an_unknown_type_is_refused(stack, tmp_path):
    path = tmp_path / "evil.skops"
    path.write_bytes(sio.dumps({"bases": list(stack.bases), "calibrated": Crafted()}))
    with pytest.raises(UntrustedModelError, match=r"refused.*test_trees\.Crafted"):
        load_stack(path)


def test_a_schema_edited_to_name_os_system_is_refused(stack, tmp_path):
    good = save_stack(tmp_path / "model.skops", stack)
    with zipfile.ZipFile(good) as z:
        files = {n: z.read(n) for n in z.namelist()}
    schema = files["schema.json"].decode()
    assert '"sklearn.tree._tree"' in schema
    files["schema.json"] = schema.replace('"sklearn.tree._tree"', '"os"', 1).encode()
    evil = tmp_path / "evil.skops"
    with zipfile.ZipFile(evil, "w") as z:
        for n, b in files.items():
            z.writestr(n, b)
    with pytest.raises(UntrustedModelError, match="refused.*os.Tree"):
        load_stack(evil)
    (tmp_path / "junk.skops").write_bytes(b"not a zip")
    with pytest.raises(UntrustedModelError, match="not a readable skops file"):
        load_stack(tmp_path / "junk.skops")


def test_label_direction_passes_on_true_labels_and_fails_on_inverted():
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.01, 2000)
    y = np.where(r > 0.005, 2, np.where(r < -0.005, 0, 1))
    ok = checks.label_direction(y, r)
    assert ok["ok"] and ok["mean_forward_return"]["BUY"] > 0.005
    bad = checks.label_direction(2 - y, r)
    assert not bad["ok"] and "FAILED" in bad["message"] and "inverted labels?" in bad["message"]


def test_val_class_check_names_a_missing_or_dominant_class():
    assert checks.val_classes(np.array([0, 1, 2, 1]))["ok"]
    miss = checks.val_classes(np.array([0, 1, 1, 1, 0]))
    assert not miss["ok"] and miss["missing"] == ["BUY"]
    coll = checks.val_classes(np.array([1] * 95 + [0, 0, 2, 2, 2]))
    assert not coll["ok"] and "HOLD 95.0% > 90%" in coll["message"]


_TRUSTED_PROBE = """
import sys, json
if sys.argv[1] == "torch":
    import torch
import supervised.trees.persist
from skops.io import _trusted_types as t
names = {n: sorted(map(str, getattr(t, n))) for n in dir(t) if n.endswith("TYPE_NAMES")}
print(json.dumps({"names": names, "torch": "torch" in sys.modules}))
"""


def test_loading_skops_imports_no_torch_and_trusts_the_same_types():
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent

    def probe(mode: str) -> dict:
        out = subprocess.run([sys.executable, "-c", _TRUSTED_PROBE, mode], cwd=root, text=True,
                             capture_output=True, check=True, timeout=300)  # fmt: skip
        return json.loads(out.stdout)

    without, with_torch = probe("plain"), probe("torch")
    assert without["torch"] is False and with_torch["torch"] is True
    assert without["names"] == with_torch["names"]
    assert len(without["names"]["SKLEARN_ESTIMATOR_TYPE_NAMES"]) > 100
