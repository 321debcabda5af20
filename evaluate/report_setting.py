"""The Setting section of a report: each evaluated run's OWN configuration, read from its folder.

The backtest's env settings are the baselines' (the env defaults: core17, window 32); a trained
run observes the market through its own feature set and window, decides every k bars and was
trained with its own reward and discount. The report shows those, one column per run, from the
run's ``config.yaml`` (SB3 runs: sections env/ppo/sac/train; supervised and tree runs: flat).
"""

from __future__ import annotations

from typing import Any

from backtest.baselines import PolicySpec
from evaluate.newdata import run_folder
from lab.config import ConfigError
from lab.rundir import read_config

# (config key, anywhere in config.yaml one section deep; label in the report)
RUN_KEYS: tuple[tuple[str, str], ...] = (
    ("algo", "algorithm"),
    ("env_name", "trained on"),
    ("env", "trained on"),
    ("seed", "seed"),
    ("feature_set", "feature set"),
    ("window", "observation window (bars)"),
    ("reward", "reward"),
    ("decision_interval", "decision interval (bars)"),
    ("action", "action space"),
    ("long_only", "long only"),
    ("gamma", "gamma (discount)"),
    ("total_timesteps", "training steps"),
    ("epochs", "epochs"),
    ("labels", "labels"),
    ("horizon", "label horizon (bars)"),
    ("class_weights", "loss (class weights)"),
    ("fee_bps", "fee trained with (bps)"),
    ("slippage_bps", "slippage trained with (bps)"),
)
# the costs table: what every policy pays in this evaluation (never the layout of one of them)
COST_KEYS = ("fee_bps", "slippage_bps", "slippage_model", "slippage_coef", "funding", "fill")


def _find(cfg: dict[str, Any], key: str) -> Any:
    """``cfg[key]``, else the first section's ``cfg[section][key]`` (scalars only)."""
    value = cfg.get(key)
    if value is not None and not isinstance(value, dict):
        return value
    for section in cfg.values():
        if isinstance(section, dict):
            inner = section.get(key)
            if inner is not None and not isinstance(inner, dict):
                return inner
    return None


def run_setting(spec: PolicySpec) -> dict[str, str]:
    """``{label: value}``: the run's own configuration (its folder's config.yaml), then what the
    policy was loaded with (``spec.env_settings``) where the folder does not say; ``model``: the
    file evaluated."""
    cfg: dict[str, Any] = {}
    folder = run_folder(spec.source) if spec.source else None
    if folder is not None:
        try:
            cfg = read_config(folder)
        except (ConfigError, FileNotFoundError):
            cfg = {}
    merged = {**spec.env_settings, **{k: v for k, v in cfg.items() if not isinstance(v, dict)}}
    out: dict[str, str] = {"method": spec.method}
    for key, label in RUN_KEYS:
        value = _find(cfg, key) if cfg else None
        value = merged.get(key) if value is None else value
        if value is not None and label not in out:
            out[label] = str(value)
    rule = getattr(spec.policy, "rule", None)  # a classifier's decision rule, when it trades one
    if rule is not None and hasattr(rule, "label"):
        out["decision rule"] = str(rule.label())
    if spec.source:
        out["model"] = str(spec.source)
    return out


def run_settings(specs: list[PolicySpec]) -> dict[str, dict[str, str]]:
    """``{policy name: run_setting}`` for every trained policy (those with a source)."""
    return {s.name: run_setting(s) for s in specs if s.source}


def cost_settings(env_settings: dict[str, Any]) -> dict[str, Any]:
    """The costs every policy paid, from a backtest's env settings (layout keys left out)."""
    return {k: v for k, v in env_settings.items() if k in COST_KEYS}
