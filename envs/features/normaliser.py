"""Robust per-feature scaling fitted on training rows only.

``z = clip((x - median) / scale, -clip, +clip)`` with ``scale = IQR / 1.349``
(IQR = 75th - 25th percentile), so that ``z`` is a standard z-score for
Gaussian data while a few extreme bars cannot set the scale. Fallbacks, per
column: IQR of 0 (e.g. a mostly-constant funding change) -> the standard
deviation (ddof 0) of the fit rows; a constant column (std 0 too) -> scale 1,
so it maps to 0 and never divides by zero.

Statistics ignore NaN (warm-up rows) and use only the rows of ``mask`` in
``fit``: fit on TRAIN rows, never on validation/test rows. ``transform``
returns float32; NaN stays NaN (the market arrays replace it by 0 and flag the
row invalid), +-inf is clipped like any other out-of-range value.

The fitted state is JSON-serialisable (``to_dict``/``save``) and carries the
feature names; ``from_dict``/``load`` with ``feature_names`` and ``transform``
of a DataFrame refuse a different feature set and name what differs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from envs.data.errors import DataValidationError  # a data problem: one line, exit 2
from lab.atomic import atomic_write_text

IQR_TO_STD = 1.349  # IQR of a standard normal distribution
_KIND = "RobustNormaliser"
_VERSION = 1


def _describe_mismatch(expected: Sequence[str], got: Sequence[str]) -> str:
    exp, gt = list(expected), list(got)
    missing = [n for n in exp if n not in gt]
    extra = [n for n in gt if n not in exp]
    if missing or extra:
        return f"missing {missing}, unexpected {extra} (fitted {len(exp)}, given {len(gt)})"
    if len(exp) != len(gt):
        return f"repeated names: fitted {len(exp)} columns, given {len(gt)}"
    first = next(i for i, (a, b) in enumerate(zip(exp, gt, strict=True)) if a != b)
    return (
        f"same names in a different order: position {first} is {gt[first]!r}, fitted {exp[first]!r}"
    )


class RobustNormaliser:
    """Median/IQR robust z-score, clipped to ``+-clip`` (default 5)."""

    def __init__(self, clip: float = 5.0) -> None:
        if not clip > 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        self.clip = float(clip)
        self.feature_names: list[str] | None = None
        self.center: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        return self.center is not None

    def fit(
        self, features: pd.DataFrame | np.ndarray, mask: np.ndarray | None = None
    ) -> RobustNormaliser:
        """Fit on the rows where ``mask`` is True (all rows if None), ignoring NaN.

        Raises ValueError when the mask has the wrong length or a column has no
        finite value among the fit rows.
        """
        values, names = self._values(features, check=False)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (len(values),):
                raise ValueError(f"mask must have shape ({len(values)},), got {mask.shape}")
            values = values[mask]
        values = np.where(np.isfinite(values), values, np.nan)
        empty = np.isnan(values).all(axis=0)
        if empty.any():
            bad = [names[i] for i in np.flatnonzero(empty)]

            shown = str(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise DataValidationError(
                f"no finite fit rows for feature(s) {shown} in {len(values)} rows: the data (or "
                "its train split) is too short for the features' warm-up; give a longer file, a "
                "smaller --bar, or widen the mask"
            )
        q25, center, q75 = np.nanpercentile(values, [25.0, 50.0, 75.0], axis=0)
        scale = (q75 - q25) / IQR_TO_STD
        std = np.nanstd(values, axis=0)
        scale = np.where(scale > 0, scale, std)
        scale = np.where(scale > 0, scale, 1.0)
        self.feature_names, self.center, self.scale = names, center, scale
        return self

    def transform(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Clipped robust z-scores as float32 (NaN stays NaN)."""
        if not self.fitted:
            raise RuntimeError("RobustNormaliser.transform called before fit (or load)")
        values, _ = self._values(features, check=True)
        z = (values - self.center) / self.scale
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def fit_transform(
        self, features: pd.DataFrame | np.ndarray, mask: np.ndarray | None = None
    ) -> np.ndarray:
        return self.fit(features, mask).transform(features)

    def _values(
        self, features: pd.DataFrame | np.ndarray, *, check: bool
    ) -> tuple[np.ndarray, list[str]]:
        if isinstance(features, pd.DataFrame):
            names = [str(c) for c in features.columns]
            values = features.to_numpy(dtype=np.float64)
        else:
            values = np.asarray(features, dtype=np.float64)
            if values.ndim != 2:
                raise ValueError(f"features must be 2-D (rows, columns), got shape {values.shape}")
            names = (
                self.feature_names
                if check and self.feature_names
                else [f"f{i}" for i in range(values.shape[1])]
            )
        if check:
            assert self.feature_names is not None
            if values.shape[1] != len(self.feature_names) or names != self.feature_names:
                if isinstance(features, pd.DataFrame):
                    detail = _describe_mismatch(self.feature_names, names)
                else:
                    detail = (
                        f"array has {values.shape[1]} columns, fitted {len(self.feature_names)}"
                    )
                raise ValueError(f"features do not match the fitted normaliser: {detail}")
        return values, names

    def check_names(self, feature_names: Sequence[str]) -> None:
        """Raise ValueError naming the difference if ``feature_names`` differ from the fit."""
        if self.feature_names is None:
            raise RuntimeError("RobustNormaliser is not fitted")
        if list(feature_names) != self.feature_names:
            raise ValueError(
                "normaliser was fitted on other features: "
                + _describe_mismatch(self.feature_names, list(feature_names))
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (plain lists and floats)."""
        if not self.fitted:
            raise RuntimeError("cannot serialise an unfitted RobustNormaliser")
        assert self.feature_names is not None and self.center is not None  # fitted
        assert self.scale is not None
        return {
            "kind": _KIND,
            "version": _VERSION,
            "clip": self.clip,
            "feature_names": list(self.feature_names),
            "center": [float(x) for x in self.center],
            "scale": [float(x) for x in self.scale],
        }

    @classmethod
    def from_dict(
        cls, state: dict[str, Any], feature_names: Sequence[str] | None = None
    ) -> RobustNormaliser:
        """Rebuild from ``to_dict`` output; with ``feature_names``, check they match."""
        if not isinstance(state, dict):
            raise ValueError(f"expected a JSON object, got {type(state).__name__}")
        if state.get("kind") != _KIND or state.get("version") != _VERSION:
            raise ValueError(
                f"not a {_KIND} v{_VERSION} state: kind={state.get('kind')!r}, "
                f"version={state.get('version')!r}"
            )
        missing = [k for k in ("feature_names", "center", "scale", "clip") if k not in state]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        names = [str(n) for n in state["feature_names"]]
        center = np.asarray(state["center"], dtype=np.float64)
        scale = np.asarray(state["scale"], dtype=np.float64)
        if not (len(names) == len(center) == len(scale)):
            raise ValueError(
                f"corrupt normaliser state: {len(names)} names, {len(center)} "
                f"centers, {len(scale)} scales"
            )
        if not (np.isfinite(center).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("center and scale must be finite numbers, scale > 0")
        clip = float(state["clip"])
        if not np.isfinite(clip):
            raise ValueError(f"clip must be a finite number > 0, got {state['clip']!r}")
        obj = cls(clip=clip)
        obj.feature_names, obj.center, obj.scale = names, center, scale
        if feature_names is not None:
            obj.check_names(feature_names)
        return obj

    def save(self, path: str | Path) -> None:
        """Write ``to_dict`` as JSON."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path, feature_names: Sequence[str] | None = None) -> RobustNormaliser:
        """Read a ``save``d normaliser; with ``feature_names``, check they match."""
        try:
            state = json.loads(Path(path).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        try:
            obj = cls.from_dict(state)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"{path}: {' '.join(str(exc).split())} (the file was edited or damaged: restore "
                "the run folder or retrain)"
            ) from None
        try:
            if feature_names is not None:
                obj.check_names(feature_names)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        return obj
