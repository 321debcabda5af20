"""Tampered or damaged run folders (issue 24 item 5): each ends in one line naming the file, the
field or value and the fix, exit 2; a checkpoint with NaN weights is refused, never evaluated.

Picked up by tests/test_cli_abuse.py (``CASES``, ``fixtures``; format in tests/abuse_cases.py).
The damaged folders are copies of real tiny runs (a PPO run, a supervised run, a tree-ensemble
run), trained once per test session, on first use, into a temp folder, then damaged one way
each. The placeholders are lazy (``Lazy``: built when ``str.format`` asks for them), so the
other passes' cases never pay for the training.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_TEMPLATES: dict[str, Path] = {}


_RUNS = {
    "ppo": ["agents.ppo", "--env", "btc1h", "--timesteps", "256", "--no-progress"],
    "sup": ["supervised.train", "--env", "btc1h", "--epochs", "1", "--max-train-samples", "2000",
            "--max-val-bars", "2000"],
    "trees": ["supervised.trees", "--env", "btc1h", "--max-train-samples", "3000",
              "--max-val-bars", "2000"],
}  # fmt: skip


def _template(name: str) -> Path:
    """Train the tiny run ``name`` once per session (a subprocess; the ledger kept out of the
    repository), on first use."""
    if name in _TEMPLATES:
        return _TEMPLATES[name]
    if "root" not in _TEMPLATES:
        _TEMPLATES["root"] = Path(tempfile.mkdtemp(prefix="abuse_hardening_"))
        atexit.register(shutil.rmtree, _TEMPLATES["root"], True)
    root = _TEMPLATES["root"]
    env = {**os.environ, "RLTRADE_RUNS_ROOT": str(root / "ledger_root"), "MPLBACKEND": "Agg"}
    out = root / name
    p = subprocess.run(
        [sys.executable, "-m", *_RUNS[name], "--run-dir", str(out)], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if p.returncode != 0:
        raise RuntimeError(f"template run {name} failed:\n{p.stderr[-3000:]}")
    _TEMPLATES[name] = out
    return out


class Lazy:
    """A placeholder whose folder is made the first time it is formatted into an argv."""

    def __init__(self, build: Callable[[], Path]) -> None:
        self._build, self._value = build, None

    def __format__(self, spec: str) -> str:
        if self._value is None:
            self._value = str(self._build())
        return format(self._value, spec)

    __str__ = lambda self: self.__format__("")  # noqa: E731


def _copy(tmp: Path, template: str, name: str) -> Path:
    dest = tmp / name
    shutil.copytree(_template(template), dest)
    return dest


def _edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _torch_edit(run: Path, change: Callable[[dict], None]) -> Path:
    import torch  # heavy: only the supervised cases need it

    payload = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
    change(payload)
    torch.save(payload, run / "model.pt")
    return run


def _nan_weights(payload: dict) -> None:
    first = next(iter(payload["state_dict"]))
    payload["state_dict"][first].view(-1)[0] = float("nan")


def _shape_tamper(payload: dict) -> None:
    name = next(k for k, v in payload["state_dict"].items() if v.ndim == 2)
    t = payload["state_dict"][name]
    payload["state_dict"][name] = t[:, : t.shape[1] - 1].clone()


def _untrusted_skops(path: Path) -> None:
    import skops.io as sio

    path.write_bytes(sio.dumps({"bases": [], "calibrated": None, "run": os.system}))


def _builders(tmp: Path) -> dict[str, Callable[[], Path]]:
    def ppo(name: str, edit: Callable[[Path], None]) -> Callable[[], Path]:
        return lambda: _then(_copy(tmp, "ppo", name), edit)

    def sup(name: str, edit: Callable[[Path], None]) -> Callable[[], Path]:
        return lambda: _then(_copy(tmp, "sup", name), edit)

    def trees(name: str, edit: Callable[[Path], None]) -> Callable[[], Path]:
        return lambda: _then(_copy(tmp, "trees", name), edit)

    def nan_clip(run: Path) -> None:
        _edit_json(run / "normaliser.json", lambda d: d.__setitem__("clip", float("nan")))

    def window0(run: Path) -> None:
        text = (run / "config.yaml").read_text()
        (run / "config.yaml").write_text(text.replace("window: 16", "window: 0", 1))

    return {
        "h_skops_trunc": trees(
            "skops_trunc",
            lambda r: (r / "model.skops").write_bytes((r / "model.skops").read_bytes()[:200]),
        ),
        "h_skops_notzip": trees(
            "skops_notzip", lambda r: (r / "model.skops").write_text("not a zip\n")
        ),
        "h_skops_untrusted": trees(
            "skops_untrusted", lambda r: _untrusted_skops(r / "model.skops")
        ),
        "h_tree_json": trees("tree_json", lambda r: (r / "tree.json").write_text("{garbage")),
        "h_nan_clip": ppo("nan_clip", nan_clip),
        "h_window0": ppo("window0", window0),
        "h_meta": ppo("meta", lambda r: (r / "meta.json").write_text("{not json")),
        "h_sup_shape": sup("sup_shape", lambda r: _torch_edit(r, _shape_tamper) and None),
        "h_sup_nonorm": sup(
            "sup_nonorm", lambda r: _torch_edit(r, lambda p: p.pop("normaliser")) and None
        ),
        "h_sup_nan": sup("sup_nan", lambda r: _torch_edit(r, _nan_weights) and None),
        "h_group": lambda: _group(tmp),
    }


def _then(run: Path, edit: Callable[[Path], None]) -> Path:
    edit(run)
    return run


def _group(tmp: Path) -> Path:
    """A seed-group folder whose group.json is damaged (a rerun with --run-dir reads it)."""
    group = tmp / "group"
    group.mkdir()
    (group / "group.json").write_text('{"seeds": [0, 1], "runs": {')
    return group


def fixtures(tmp: Path) -> dict[str, Lazy]:
    """The lazy damaged-folder placeholders (see the module docstring)."""
    return {key: Lazy(build) for key, build in _builders(tmp).items()}


EV = ["--env", "btc1h", "--split", "val", "--n-boot", "20", "--no-plots", "--out", "{new}"]

CASES: list[tuple[str, str, list[str], str]] = [
    ("tamper evaluate skops truncated", "evaluate", [*EV, "{h_skops_trunc}"], "model.skops"),
    ("tamper evaluate skops not a zip", "evaluate", [*EV, "{h_skops_notzip}"], "model.skops"),
    (
        "tamper evaluate skops untrusted type",
        "evaluate",
        [*EV, "{h_skops_untrusted}"],
        "posix.system",
    ),
    ("tamper evaluate tree.json garbage", "evaluate", [*EV, "{h_tree_json}"], "tree.json"),
    ("tamper evaluate normaliser NaN clip", "evaluate", [*EV, "{h_nan_clip}"], "normaliser.json"),
    ("tamper evaluate config window 0", "evaluate", [*EV, "{h_window0}"], "window"),
    ("tamper evaluate meta.json invalid", "evaluate", [*EV, "{h_meta}"], "meta.json"),
    ("tamper evaluate supervised shape tampered", "evaluate", [*EV, "{h_sup_shape}"], "model.pt"),
    ("tamper evaluate supervised no normaliser", "evaluate", [*EV, "{h_sup_nonorm}"], "normaliser"),
    ("tamper evaluate supervised NaN weights", "evaluate", [*EV, "{h_sup_nan}"], "NaN"),
    (
        "tamper ppo warm-start NaN checkpoint",
        "agents.ppo",
        ["--env", "btc1h", "--warm-start", "{h_sup_nan}/model.pt", "--run-dir", "{new}"],
        "model.pt",
    ),
    (
        "tamper ppo group rerun damaged group.json",
        "agents.ppo",
        ["--env", "btc1h", "--seeds", "0", "1", "--run-dir", "{h_group}"],
        "group.json",
    ),
    (
        "tamper registry promote meta.json invalid",
        "agents.registry",
        ["--root", "{new}", "promote", "{h_meta}", "--name", "m"],
        "meta.json",
    ),
]
