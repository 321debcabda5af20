"""Stop training at the first NaN/inf loss, logit or weight, with one message that says where.

A diverged update (learning rate too high, rewards too large) turns the weights NaN; PPO then
dies in a torch ``Categorical`` traceback at the next rollout and SAC steps the env with NaN
actions. :class:`NanGuardCallback` checks, at the start of every rollout (after each update,
before any action is taken or a checkpoint saved), that every policy parameter and the losses
SB3 just logged (``train/*``) are finite; otherwise it raises :class:`NonFiniteError` naming the
step, the quantity and the settings to look at. The checkpoints already written stay the last
good ones. ``supervised.nan_guard`` does the same per supervised batch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from agents.resume.checkpoints import latest_checkpoint


class NonFiniteError(ArithmeticError):
    """Training produced a NaN/inf; the message is one line (step, quantity, likely setting)."""


HINT = "lower the learning rate (or the reward scale / max_grad_norm)"


def first_non_finite_parameter(module: Any) -> str | None:
    """Name of the first parameter holding a NaN/inf, or None (one fused check per tensor)."""
    import torch

    for name, p in module.named_parameters():
        if not bool(torch.isfinite(p).all()):
            return name
    return None


def non_finite_logged(values: dict[str, Any], prefix: str = "train/") -> tuple[str, float] | None:
    """The first logged ``prefix*`` scalar that is NaN/inf, as ``(key, value)``."""
    for key, value in values.items():
        if key.startswith(prefix) and isinstance(value, (int, float)) and not math.isfinite(value):
            return key, float(value)
    return None


class NanGuardCallback(BaseCallback):
    """Raise :class:`NonFiniteError` at a rollout start when a loss or a weight is not finite.

    ``learning_rate`` is named in the message (the usual culprit).
    """

    def __init__(self, run_dir: str | Path | None = None) -> None:
        super().__init__(verbose=0)
        self.run_dir = None if run_dir is None else Path(run_dir)

    def _last_good(self) -> str:
        """Where the run can be picked up: its newest checkpoint, written before the NaN."""
        found = None if self.run_dir is None else latest_checkpoint(self.run_dir)
        if found is None:
            return "no checkpoint was written before it"
        return f"the last good checkpoint is {found[0]} ({found[1]} steps)"

    def _on_training_start(self) -> None:
        import torch

        # torch's distributions validate their parameters by default and raise a ValueError
        # (a dump of the NaN logits) in the middle of an update; without validation the NaN
        # reaches the logged loss and the weights, where this guard reports it in one line.
        torch.distributions.Distribution.set_default_validate_args(False)

    def _on_rollout_start(self) -> None:
        self.check()

    def _on_training_end(self) -> None:
        self.check()

    def _on_step(self) -> bool:
        return True

    def check(self) -> None:
        """Raise if the last update left a non-finite loss or weight."""
        lr = getattr(self.model, "learning_rate", "?")
        where = f"at step {self.num_timesteps}"
        tail = f"learning_rate {lr}: {HINT}; {self._last_good()}"
        logged = non_finite_logged(dict(self.logger.name_to_value))
        if logged is not None:
            raise NonFiniteError(
                f"training diverged {where}: loss {logged[0]} = {logged[1]}; {tail}"
            )
        bad = first_non_finite_parameter(self.model.policy)
        if bad is not None:
            raise NonFiniteError(f"training diverged {where}: weight {bad!r} is NaN/inf; {tail}")
