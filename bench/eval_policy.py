"""Per-bar cost of a deterministic policy call in the evaluation runner, before and after.

Run: ``python bench/eval_policy.py [--bars 1500] [--env btc1h]``. On the val split of the shipped
data, with the agents' default PPO network (cpu-preset transformer, core17, window 32,
``net_arch=dict(pi=[], vf=[64, 64])``) and a supervised classifier of the same backbone, it
times one policy call per bar on the env's real observations, in one run:

(a) before: ``model.predict(obs[None], deterministic=True)`` with torch's default intra-op
    threads (what ``backtest.runner`` did), then the same with 1 thread;
(b) after: ``agents.acting.inference.SB3Actor.act`` (modules called directly, inference mode,
    preallocated tensor, 1 thread);
(c) the classifier: ``LoadedClassifier.corrected_logits(...).argmax`` (before) against
    ``ClassifierActor.act`` (after).

Figures are CPU time per bar (``time.process_time``, all threads of this process) and wall time
per bar, best of ``--repeats``; ratios are against (a) measured in the same run. It also checks
that every path returns the same actions. Weights are the untrained init (timing does not depend
on them). A shared machine is noisy: compare the ratios.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch


def _observations(env_name: str, n: int) -> np.ndarray:
    """``n`` consecutive real val observations (flat account state, as a fresh pass starts)."""
    from envs import make_env

    env = make_env(env_name, split="val", feature_set="core17", window=32, max_drawdown=None)
    obs, _ = env.reset(options={"sequential": True})
    out = [obs]
    while len(out) < n:
        obs, _r, term, trunc, _ = env.step(1)
        if term or trunc:
            obs, _ = env.reset(options={"sequential": True})
        out.append(obs)
    return np.stack(out)


def _time(
    fn: Callable[[np.ndarray], np.ndarray], obs: np.ndarray, repeats: int
) -> tuple[float, float, np.ndarray]:
    """(best CPU s/bar, best wall s/bar, actions) of calling ``fn`` on one row at a time."""
    best_cpu = best_wall = float("inf")
    acts = np.empty(len(obs), dtype=np.int64)
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        for i in range(len(obs)):
            acts[i] = int(np.asarray(fn(obs[i : i + 1])).reshape(-1)[0])
        best_cpu = min(best_cpu, (time.process_time() - c0) / len(obs))
        best_wall = min(best_wall, (time.perf_counter() - w0) / len(obs))
    return best_cpu, best_wall, acts


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--env", default="btc1h")
    ap.add_argument("--bars", type=int, default=1500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from stable_baselines3 import PPO

    from agents.acting.inference import ClassifierActor, SB3Actor
    from agents.training.vec_env import make_sb3_batched_env
    from policies import make_config
    from supervised.checkpoint import LoadedClassifier
    from supervised.labels import LabelSpec
    from supervised.logit_correction import LogitCorrection
    from supervised.model import Classifier

    default_threads = torch.get_num_threads()
    obs = _observations(args.env, args.bars)
    venv = make_sb3_batched_env(args.env, 1, "train", feature_set="core17", window=32, seed=0)
    from policies import TransformerExtractor

    torch.manual_seed(0)
    model = PPO(
        "MlpPolicy",
        venv,
        device="cpu",
        seed=0,
        policy_kwargs=dict(
            features_extractor_class=TransformerExtractor,
            features_extractor_kwargs=dict(window=32, n_features=venv.n_features),
            net_arch=dict(pi=[], vf=[64, 64]),
            ortho_init=False,
        ),
    )
    clf = Classifier(make_config("cpu", window=32, n_features=venv.n_features)).eval()
    loaded = LoadedClassifier(
        clf, LogitCorrection(np.array([0.1, 0.0, -0.1]), "none"), LabelSpec(), "core17", 32, {}
    )

    rows: list[tuple[str, float, float]] = []
    torch.set_num_threads(default_threads)
    c, w, ref = _time(lambda o: model.predict(o, deterministic=True)[0], obs, args.repeats)
    rows.append((f"(a) PPO model.predict, {default_threads} torch threads", c, w))
    torch.set_num_threads(1)
    c, w, a1 = _time(lambda o: model.predict(o, deterministic=True)[0], obs, args.repeats)
    rows.append(("(a') PPO model.predict, 1 torch thread", c, w))
    actor = SB3Actor(model)
    c, w, a2 = _time(actor.act, obs, args.repeats)
    rows.append(("(b) PPO SB3Actor.act (direct, 1 thread)", c, w))
    torch.set_num_threads(default_threads)
    c, w, r3 = _time(
        lambda o: loaded.corrected_logits(torch.as_tensor(o)).argmax(-1).numpy(), obs, args.repeats
    )
    rows.append((f"(c) classifier corrected_logits, {default_threads} threads", c, w))
    cactor = ClassifierActor(loaded)
    c, w, a4 = _time(cactor.act, obs, args.repeats)
    rows.append(("(c') classifier ClassifierActor.act (1 thread)", c, w))

    same = bool((ref == a1).all() and (ref == a2).all() and (r3 == a4).all())
    print(
        f"{args.bars} val bars of {args.env}, best of {args.repeats}; torch {torch.__version__}; "
        f"identical actions across paths: {same}"
    )
    base_c = rows[0][1]
    print(f"{'path':<55}{'CPU ms/bar':>12}{'wall ms/bar':>13}{'CPU vs (a)':>12}")
    for name, c, w in rows:
        print(f"{name:<55}{1e3 * c:>12.3f}{1e3 * w:>13.3f}{base_c / c:>11.1f}x")
    if not same:
        raise SystemExit("paths disagree")


if __name__ == "__main__":
    main()
