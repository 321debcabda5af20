"""Save and load a ``TreeStack`` with skops: no pickle, only an explicit list of trusted types.

``skops.io.dump`` writes a zip of JSON schemas and numpy arrays; ``skops.io.load`` rebuilds only
the types it is told to trust. ``TRUSTED_TYPES`` lists the types a ``TreeStack`` needs beyond
skops' own defaults (plain sklearn estimators, numpy arrays and builtins): it was computed with
``skops.io.get_untrusted_types`` on a stack fitted by ``supervised.trees.ensemble.fit_stack``
(``tests/test_trees.py`` checks the list is still sufficient). A file that needs any other type
(a crafted ``os.system``, an unknown class) is refused before anything is constructed, naming
the types. Never ``trusted=True``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from lab.atomic import atomic_write_bytes
from lab.config import ConfigError
from supervised.trees.ensemble import BASE_NAMES, TreeStack

_TORCH_SHIM = "sklearn.externals.array_api_compat.torch"


def _import_skops_io() -> Any:
    """``skops.io``, without importing torch on the way when torch is not loaded yet.

    skops builds its default trusted types from ``sklearn.utils.all_estimators()``, whose package
    walk imports every sklearn package, ``sklearn.externals.array_api_compat.torch`` included,
    and that one imports torch (4-7 s on the shared VM; a tree decision needs none of it). The
    walk skips packages that fail to import and no trusted type lives under ``externals``, so
    the trusted list is the same (``tests/test_trees.py``); the block is lifted right after."""
    if "torch" in sys.modules or _TORCH_SHIM in sys.modules:
        import skops.io as sio

        return sio
    sys.modules[_TORCH_SHIM] = None  # type: ignore[assignment]  # None: "import fails"
    try:
        import skops.io as sio
    finally:
        if _TORCH_SHIM in sys.modules and sys.modules[_TORCH_SHIM] is None:
            del sys.modules[_TORCH_SHIM]
    return sio


sio = _import_skops_io()

TRUSTED_TYPES = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)


class UntrustedModelError(ConfigError):
    """A model file that needs types outside ``TRUSTED_TYPES``, or is no readable skops file (a
    ``ConfigError``: the CLIs print its one line, exit 2)."""


def save_stack(path: str | os.PathLike[str], stack: TreeStack) -> Path:
    """Write ``stack`` as a skops file, atomically."""
    blob = sio.dumps({"bases": list(stack.bases), "calibrated": stack.calibrated})
    return atomic_write_bytes(path, blob)


def load_stack(path: str | os.PathLike[str]) -> TreeStack:
    """Load a skops file written by ``save_stack``; refuse any type outside ``TRUSTED_TYPES``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no tree model here (expected model.skops)")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # not a zip, or a broken schema: say so, build nothing
        raise UntrustedModelError(
            f"{path}: not a readable skops file ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); retrain or restore it"
        ) from None
    unknown = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unknown:
        raise UntrustedModelError(
            f"{path}: refused, it needs types outside the trusted list: {', '.join(unknown)} "
            "(nothing was built from it; a model file supervised.trees wrote needs none)"
        )
    try:
        obj: Any = sio.load(path, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # noqa: BLE001 (a truncated array entry, a schema that lies)
        raise UntrustedModelError(
            f"{path}: not a readable skops file ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); retrain or restore it"
        ) from None
    if (
        not isinstance(obj, dict)
        or set(obj) != {"bases", "calibrated"}
        or len(obj["bases"]) != len(BASE_NAMES)
    ):
        raise UntrustedModelError(f"{path}: not a tree-ensemble file (bases + calibrated)")
    for b in obj["bases"]:  # one predict thread: deterministic float sums (see ensemble)
        if "n_jobs" in b.get_params():
            b.set_params(n_jobs=1)
    return TreeStack(list(obj["bases"]), obj["calibrated"])
