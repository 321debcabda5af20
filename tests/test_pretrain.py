"""Self-supervised pretraining (supervised.pretrain) and PPO/SAC on the pretrained backbone with
LoRA (agents --pretrained): causal targets, bit-identical checkpoints, frozen base, refusals."""

from __future__ import annotations

import hashlib
import json
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from agents.training.config import resolve_config
from envs import load_market
from envs.registry import split_range
from supervised import pretrain as cli
from supervised import pretrain_core as core

TINY = ["--markets", "btc1h", "--epochs", "1", "--max-samples-per-market", "300"]
PPO_TINY = {
    "env": {"n_envs": 4, "episode_length": 64},
    "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 2},
    "train": {
        "eval_freq": 1_000_000,
        "n_eval_episodes": 1,
        "checkpoint_freq": 1_000_000,
        "torch_threads": 1,
    },
}


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A tiny pretrained checkpoint for the main job's layout (flagtrader60, window 16)."""
    out = tmp_path_factory.mktemp("pretrain")
    cli.main([*TINY, "--run-dir", str(out / "run"), "--out", str(out / "backbone.pt")])
    return out / "backbone.pt"


# ---------------------------------------------------------------------------- targets (causal)
def test_targets_by_hand():
    close = np.exp(np.array([0.0, 0.1, 0.3, 0.2, 0.6, 0.6]))
    seg = np.array([0, 0, 0, 0, 1, 1])
    ok = np.ones(6, bool)
    ends, y = core.raw_targets(close, seg, ok, (0, 6), [1, 2], ("return", "vol"))
    # t + 2 < 6 -> t in 0..3; t = 2 and 3 cross the gap at bar 4 (segment 0 -> 1)
    assert ends.tolist() == [0, 1]
    np.testing.assert_allclose(y[:, 0], [0.1, 0.2])  # return_1
    np.testing.assert_allclose(y[:, 2], [0.3, 0.1])  # return_2
    np.testing.assert_allclose(y[:, 1], np.log([0.1 + 1e-5, 0.2 + 1e-5]))  # vol_1 = log |r|
    vol2 = np.sqrt([(0.1**2 + 0.2**2) / 2, (0.2**2 + 0.1**2) / 2])
    np.testing.assert_allclose(y[:, 3], np.log(vol2 + 1e-5))


def test_targets_ignore_rows_after_the_split_end():
    rng = np.random.default_rng(0)
    n, hi = 400, 300
    close = np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    seg = np.repeat([0, 1], [150, 250])
    ok = rng.random(n) > 0.1
    full = core.raw_targets(close, seg, ok, (20, hi), [1, 4, 24])
    garbage = close.copy()
    garbage[hi:] = np.nan  # anything after the split's end must not matter
    cut = core.raw_targets(garbage[:hi], seg[:hi], ok[:hi], (20, hi), [1, 4, 24])
    assert (full[0] == cut[0]).all() and (full[1] == cut[1]).all()
    assert full[0].max() + 24 < hi


@pytest.mark.slow
def test_checkpoint_identical_when_data_after_train_end_is_cut():
    cfg = cli.PretrainConfig(markets=["btc1h"], epochs=1, max_samples_per_market=300)
    market, _ = load_market("btc1h", cfg.feature_set, cfg.window)
    rows = split_range(market, "btc1h", "train")
    cut = SimpleNamespace(
        **{k: getattr(market, k)[: rows[1]] for k in ("close", "segment", "obs_ok", "features")}
    )
    blobs = []
    for m in (market, cut):
        s = core.market_samples("btc1h", m, rows, cfg.horizons, cfg.max_samples_per_market)
        _, payload = cli.pretrain(cfg, [s], [{"name": "btc1h"}], ["f"], log=lambda _: None)
        blobs.append(core.checkpoint_bytes(payload))
    assert blobs[0] == blobs[1]


# ---------------------------------------------------------------------------- the checkpoint
@pytest.mark.slow
def test_same_command_writes_the_same_bytes(tmp_path, ckpt):
    again = tmp_path / "again.pt"
    cli.main([*TINY, "--run-dir", str(tmp_path / "run"), "--out", str(again)])
    assert _sha(again) == _sha(ckpt) == _sha(tmp_path / "run" / "backbone.pt")
    payload = torch.load(ckpt, weights_only=True)
    assert payload["format"] == "rltrade-pretrained-v1"
    assert (payload["feature_set"], payload["window"]) == ("flagtrader60", 16)
    assert payload["markets"][0]["train_rows"] == [0, 43701]
    assert payload["markets"][0]["train"] == ["2018-01-01", "2023-01-01"]
    assert payload["markets"][0]["data_sha256"]["btcusdt_1h.csv.gz"].startswith("4c469a79")
    assert payload["objective"]["outputs"] == [
        f"{k}_{h}" for h in (1, 4, 24) for k in ("return", "vol")
    ]
    assert payload["command"].startswith("python -m supervised.pretrain --markets btc1h ")
    assert "--max-samples-per-market 300" in payload["command"]


def test_defaults_are_the_main_jobs_layout():
    ppo = resolve_config("ppo", "btc1h")
    cfg = cli.PretrainConfig()
    assert (cfg.feature_set, cfg.window, cfg.preset) == (
        ppo.env.feature_set,
        ppo.env.window,
        ppo.policy.preset,
    )


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_garbage_and_pickles_are_refused(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a loadable pretrained checkpoint"):
        core.read_checkpoint(junk)
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(SimpleNamespace(a=1)))
    with pytest.raises(ValueError, match="not a loadable"):
        core.read_checkpoint(evil)
    other = tmp_path / "other.pt"
    torch.save({"format": "rltrade-supervised-v1"}, other)
    with pytest.raises(ValueError, match="not a pretrained backbone"):
        core.read_checkpoint(other)


# ---------------------------------------------------------------------------- PPO / SAC
def _ppo_args(tmp_path, ckpt, run="run"):
    cfg_file = tmp_path / "tiny.yml"
    cfg_file.write_text(yaml.safe_dump(PPO_TINY))
    return [
        "--env",
        "btc1h",
        "--config",
        str(cfg_file),
        "--no-progress",
        "--timesteps",
        "256",
        "--pretrained",
        str(ckpt),
        "--run-dir",
        str(tmp_path / run),
    ]


def _expected_trainable(names):
    heads = ("mlp_extractor.value_net.", "value_net.", "action_net.")
    return sorted(n for n in names if n.endswith(("lora_A", "lora_B")) or n.startswith(heads))


@pytest.mark.slow
def test_ppo_trains_only_lora_and_heads_and_keeps_the_backbone(tmp_path, ckpt, capsys):
    from agents import ppo
    from agents.training.models import load_model

    payload = torch.load(ckpt, weights_only=True)
    run = ppo.main(_ppo_args(tmp_path, ckpt))
    out = capsys.readouterr().out
    # scratch main job: 35,012; + LoRA r=8 on q, v (2 x (8x32 + 32x8)); trainable: LoRA +
    # action_net (64x3 + 3) + value MLP (2 x (64x64 + 64)) + value_net (64 + 1)
    assert "policy parameters: 36,036 total, 9,604 trainable, 1,024 LoRA" in out
    cfg = resolve_config("ppo", "btc1h", config_file=run / "config.yaml")
    assert cfg.pretrained.checkpoint == str(ckpt)
    assert cfg.pretrained.checkpoint_sha256 == _sha(ckpt)
    model = load_model("ppo", run / "final_model.zip", cfg=cfg, device="cpu")
    state = model.policy.features_extractor.backbone.state_dict()
    for key, value in payload["backbone"].items():  # frozen: bit for bit the checkpoint's
        stem, _, leaf = key.rpartition(".")
        mapped = key if key in state else f"{stem}.base.{leaf}"
        torch.testing.assert_close(state[mapped], value, atol=0, rtol=0)
    assert any(state[k].abs().max() > 0 for k in state if k.endswith("lora_B"))  # adapters learned

    # --resume freezes again (requires_grad is not in a zip): LoRA + heads only
    session = ppo.setup(["--resume", str(run), "--timesteps", "512", "--no-progress"])
    names = [n for n, _ in session.model.policy.named_parameters()]
    trainable = sorted(n for n, p in session.model.policy.named_parameters() if p.requires_grad)
    assert trainable == _expected_trainable(names)
    session.training.close()


def test_sac_loads_every_extractor_and_trains_only_lora_and_heads(tmp_path, ckpt):
    from agents.training.models import build_model
    from agents.training.vec_env import SB3BatchedTradingEnv
    from agents.transfer.pretrained_backbone import backbones, prepare_pretrained, pretrained_into

    cfg = resolve_config(
        "sac", "btc1h", cli={"env": {"feature_set": "flagtrader60", "window": 16, "n_envs": 2}}
    )
    loaded = prepare_pretrained(ckpt, cfg)
    market, _ = load_market("btc1h", "flagtrader60", 16)
    env = SB3BatchedTradingEnv(market, 2, (100, 2000), seed=0, **cfg.env.env_options())
    model = build_model(cfg, env, market.n_features, tensorboard_log=None)
    trainable = pretrained_into(model, loaded, cfg)
    found = backbones(model.policy)
    assert len(found) == 3  # actor, critic, target critic
    for bb in found:
        got = bb.state_dict()["blocks.0.attn.q.base.weight"]
        torch.testing.assert_close(got, loaded.payload["backbone"]["blocks.0.attn.q.weight"])
    assert all(
        n.endswith(("lora_A", "lora_B"))
        or n.startswith(("actor.latent_pi", "actor.mu", "actor.log_std", "critic.qf"))
        for n in trainable
    )
    assert any(n.startswith("critic.qf1") for n in trainable)
    assert not any("critic_target" in n for n in trainable)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"feature_set": "core17"}, "pretrained for feature_set 'core17'"),
        ({"window": 8}, "pretrained for window 8"),
    ],
)
def test_ppo_refuses_another_layout(tmp_path, ckpt, capsys, change, message):
    from agents import ppo

    payload = torch.load(ckpt, weights_only=True)
    bad = tmp_path / "bad.pt"
    torch.save({**payload, **change}, bad)
    with pytest.raises(SystemExit) as exc:
        ppo.setup(_ppo_args(tmp_path, bad))
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_ppo_refuses_garbage_and_warm_start_together(tmp_path, ckpt, capsys):
    from agents import ppo

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(SystemExit) as exc:
        ppo.setup(_ppo_args(tmp_path, junk))
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "not a loadable pretrained checkpoint" in err
    assert len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        ppo.setup([*_ppo_args(tmp_path, ckpt), "--warm-start", str(ckpt)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exc.value.code == 2 and "--warm-start and --pretrained exclude each other" in err


def test_scratch_runs_print_zero_lora(tmp_path, capsys):
    from agents import ppo

    args = _ppo_args(tmp_path, "unused")
    i = args.index("--pretrained")
    session = ppo.setup(args[:i] + args[i + 2 :])
    session.training.close()
    assert "policy parameters: 35,012 total, 35,012 trainable, 0 LoRA" in capsys.readouterr().out


def test_a_named_backbone_is_never_silently_ignored(tmp_path):
    from agents.training.pipeline import prepare_training
    from agents.transfer.pretrained_backbone import PretrainedError

    cfg = resolve_config("ppo", "btc1h")
    cfg.pretrained.checkpoint = str(tmp_path / "backbone.pt")
    with pytest.raises(PretrainedError, match="set but was not loaded"):
        prepare_training(cfg, tmp_path, None, (0, 10), (10, 20))


def test_a_pinned_sha256_must_match(ckpt):
    from agents.transfer.pretrained_backbone import PretrainedError, prepare_pretrained

    cfg = resolve_config("ppo", "btc1h")
    cfg.pretrained.checkpoint_sha256 = "0" * 64
    with pytest.raises(PretrainedError, match="differs from the pinned"):
        prepare_pretrained(ckpt, cfg)
    cfg.pretrained.checkpoint_sha256 = _sha(ckpt)
    loaded = prepare_pretrained(ckpt, cfg)
    assert cfg.policy.extractor_kwargs == {
        "lora_rank": 8,
        "lora_alpha": 16.0,
        "lora_targets": ["q", "v"],
    }
    assert loaded.sha256 == _sha(ckpt)


def test_a_config_can_name_the_backbone(tmp_path, ckpt, capsys):
    """How the main job would use it: ppo.yml / --config sets pretrained.checkpoint + a pin."""
    from agents import ppo

    layer = {**PPO_TINY, "pretrained": {"checkpoint": str(ckpt), "checkpoint_sha256": _sha(ckpt)}}
    cfg_file = tmp_path / "with_backbone.yml"
    cfg_file.write_text(yaml.safe_dump(layer))
    args = ["--env", "btc1h", "--config", str(cfg_file), "--no-progress"]
    session = ppo.setup([*args, "--run-dir", str(tmp_path / "run")])
    session.training.close()
    assert "policy parameters: 36,036 total, 9,604 trainable, 1,024 LoRA" in capsys.readouterr().out
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["pretrained"]["checkpoint_sha256"] == _sha(ckpt)
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["pretrained"] == {"checkpoint": str(ckpt.resolve()), "sha256": _sha(ckpt)}
    assert "warm_start" not in meta
