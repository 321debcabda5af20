"""Pretrain the transformer backbone, self-supervised, on the TRAIN split of every given market.

    python -m supervised.pretrain [--markets btc1h eth1h] [--epochs 3] [--seed 0] \
        [--feature-set flagtrader60] [--window 16] [--preset cpu] [--horizons 1 4 24] \
        [--max-samples-per-market N] [--run-dir DIR] [--out FILE]

The backbone is the one ``python -m agents.ppo`` builds (the main job's ``agents/configs/
ppo.yml``: preset cpu, feature set flagtrader60, window 16 are the defaults here). Each market's
features are normalised by its own train-fitted normaliser, exactly as its env does
(``envs.load_market``). The objective, multi-horizon future log-return regression on standardised
targets that never reach past the train split's end, is documented in ``supervised.pretrain_core``.

Writes ``runs/<markets>/pretrain/<UTC stamp>_s<seed>/``: ``command.txt``, ``config.yaml``,
``meta.json`` (``lab.rundir``: data sha256, versions, git), ``backbone.pt`` and ``metrics.json``
(train loss per epoch, R^2 per horizon on the train samples and, for information only, on each
market's val split: nothing is selected on it). ``--out FILE`` writes the same bytes to FILE too.

``backbone.pt`` is a plain dict, loadable with ``torch.load(weights_only=True)``: ``format``
("rltrade-pretrained-v1"), ``backbone`` and ``head`` state dicts, ``model_config``, ``preset``,
``feature_set``, ``window``, ``feature_names``, ``objective`` (name, horizons, loss, account
input), ``markets`` (name, data files' sha256, train dates and rows, samples, target mean/sd),
``seed``, ``epochs``, ``train`` (batch size, lr, weight decay, sample cap), ``history``,
``versions`` and ``command``, the exact command that rebuilds it bit for bit (one torch thread,
seeded; no time stamps or paths inside). ``python -m agents.ppo --pretrained FILE`` fine-tunes it
with LoRA (``agents.transfer.pretrained_backbone``). No trial-ledger entry: nothing here is evaluated on
val as a trading configuration (the PPO runs that use it are).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from envs import load_market
from envs.data import DataValidationError
from envs.presets import get_preset
from envs.registry import split_range
from lab.atomic import atomic_write_bytes, atomic_write_json
from lab.cli import run_cli
from lab.config import ConfigError, add_fields, check_rules, flag_of, resolve
from lab.rundir import create_run_dir, preset_files
from lab.runtime import seed_everything, set_torch_threads
from supervised import pretrain_core as core
from supervised.pretrain_core import PretrainConfig

CHECKPOINT = "backbone.pt"


def rebuild_command(cfg: PretrainConfig) -> str:
    """The canonical command (every field spelled out) that rebuilds the checkpoint."""
    argv = ["python", "-m", "supervised.pretrain"]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value is None:
            continue
        argv.append(flag_of(f.name))
        argv += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return shlex.join(argv)


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``PretrainConfig`` field, ``--config FILE``, ``--run-dir``, ``--out``."""
    p = argparse.ArgumentParser(
        prog="python -m supervised.pretrain",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_fields(p, PretrainConfig)
    p.add_argument("--run-dir", type=Path, default=None, help="run folder (default: runs/...)")
    p.add_argument("--out", type=Path, default=None, help=f"also write {CHECKPOINT} here")
    return p


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    """Defaults, then ``--config`` YAML, then the flags; each field checked (one line)."""
    cfg, sources = resolve(PretrainConfig, args)
    check_rules(cfg, PretrainConfig.RULES, sources)
    if len(set(cfg.markets)) != len(cfg.markets):
        raise ConfigError(f"--markets {cfg.markets}: a market is listed twice")
    return cfg


def load_samples(
    cfg: PretrainConfig, log: Any = print
) -> tuple[list[Any], list[dict[str, Any]], list[str]]:
    """Every market's train samples, its provenance record (files' sha256, train range) and
    the feature names."""
    samples, records, names = [], [], []
    for name in cfg.markets:
        preset = get_preset(name)
        market, _ = load_market(name, cfg.feature_set, cfg.window)  # train-fitted normaliser
        rows = split_range(market, name, "train")
        names = list(market.feature_names)
        s = core.market_samples(
            name, market, rows, cfg.horizons, cfg.max_samples_per_market, tuple(cfg.targets)
        )
        samples.append(s)
        records.append(
            {
                "name": name,
                "data_sha256": {Path(p).name: sha for p, sha in sorted(preset.files.items())},
                "train": list(preset.splits["train"]),
                "train_rows": [int(rows[0]), int(rows[1])],
                "n_samples": len(s.ends),
                "target_mean": s.mean,
                "target_std": s.std,
            }
        )
        log(f"{name}: {len(s.ends)} train samples, rows {rows}")
    return samples, records, names


def pretrain(
    cfg: PretrainConfig,
    samples: list[Any],
    records: list[dict[str, Any]],
    feature_names: list[str],
    log: Any = print,
) -> tuple[core.PretrainNet, dict[str, Any]]:
    """Train the backbone on ``samples``; returns the model and the checkpoint payload."""
    set_torch_threads(1)  # the bytes depend on the thread count: always one
    seed_everything(cfg.seed)
    n_features = int(samples[0].features.shape[1])
    n_outputs = len(cfg.horizons) * len(cfg.targets)
    model = core.build_model(cfg.preset, cfg.window, n_features, n_outputs)
    data = core.WindowBatches(samples, cfg.window, model.backbone.config.n_account)
    history = core.train(
        model,
        data,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        seed=cfg.seed,
        log=log,
    )
    payload = core.checkpoint_payload(
        model,
        preset=cfg.preset,
        feature_set=cfg.feature_set,
        window=int(cfg.window),
        feature_names=list(feature_names),
        objective={
            "name": core.OBJECTIVE,
            "horizons": [int(h) for h in cfg.horizons],
            "targets": list(cfg.targets),
            "outputs": [f"{k}_{h}" for h in cfg.horizons for k in cfg.targets],
            "loss": "mse of per-market, per-output standardised targets (supervised.pretrain_core)",
            "account_input": "zeros (flat account)",
        },
        markets=records,
        seed=int(cfg.seed),
        epochs=int(cfg.epochs),
        train={
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "weight_decay": cfg.weight_decay,
            "max_samples_per_market": cfg.max_samples_per_market,
            "optimizer": "AdamW",
            "torch_threads": 1,
        },
        history=[float(x) for x in history],
        versions=core.versions(),
        command=rebuild_command(cfg),
    )
    return model, payload


def val_report(cfg: PretrainConfig, model: core.PretrainNet) -> dict[str, Any]:
    """R^2 per horizon on each market's val split (targets standardised with TRAIN stats;
    information only, never used to choose anything)."""
    out: dict[str, Any] = {}
    for name in cfg.markets:
        market, _ = load_market(name, cfg.feature_set, cfg.window)
        train = split_range(market, name, "train")
        try:
            val = split_range(market, name, "val")
        except Exception:  # a market without a val split: nothing to report
            continue
        kinds = tuple(cfg.targets)
        ref = core.market_samples(name, market, train, cfg.horizons, kinds=kinds)
        ends, y = core.raw_targets(
            market.close, market.segment, market.obs_ok, val, cfg.horizons, kinds
        )
        if len(ends) < 2:
            continue
        s = core.MarketSamples(
            name,
            market.features[: val[1]].astype("float32"),
            ends,
            ((y - ref.mean) / ref.std).astype("float32"),
            ref.mean,
            ref.std,
        )
        data = core.WindowBatches([s], cfg.window, model.backbone.config.n_account)
        out[name] = [round(r, 5) for r in core.r_squared(model, data)]
    return out


def main(argv: list[str] | None = None) -> Path:
    """Pretrain, save the checkpoint (run folder and ``--out``), report; returns the run folder."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    t0 = time.time()
    files = [f for m in cfg.markets for f in preset_files(get_preset(m))]
    run_dir = create_run_dir(
        env="+".join(cfg.markets),
        algo="pretrain",
        seed=cfg.seed,
        config=dataclasses.asdict(cfg),
        data_files=files,
        run_dir=args.run_dir,
        argv=["-m", "supervised.pretrain", *argv],
    )
    print(f"run folder: {run_dir}")
    samples, records, names = load_samples(cfg)
    model, payload = pretrain(cfg, samples, records, names)
    blob = core.checkpoint_bytes(payload)
    atomic_write_bytes(run_dir / CHECKPOINT, blob)
    if args.out is not None:
        atomic_write_bytes(args.out, blob)
    data = core.WindowBatches(samples, cfg.window, model.backbone.config.n_account)
    metrics = {
        "history": payload["history"],
        "train_r2": [round(r, 5) for r in core.r_squared(model, data)],
        "val_r2": val_report(cfg, model),
        "outputs": payload["objective"]["outputs"],
        "sha256": hashlib.sha256(blob).hexdigest(),
        "wall_s": round(time.time() - t0, 1),
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    counts = sum(p.numel() for p in model.backbone.parameters())
    print(
        f"backbone {counts:,} parameters; R^2 train {metrics['train_r2']}, val {metrics['val_r2']} "
        f"(outputs {metrics['outputs']}); sha256 {metrics['sha256'][:16]}...; wall {metrics['wall_s']}s"
    )
    print(f"checkpoint: {run_dir / CHECKPOINT}" + (f" and {args.out}" if args.out else ""))
    print(f"rebuild: {payload['command']}")
    return run_dir


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (DataValidationError,)))
