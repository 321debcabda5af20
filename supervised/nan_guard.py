"""Stop supervised training at the first NaN/inf loss, logit or weight (checked per batch).

Without it a diverged run printed ``loss nan`` for every remaining epoch and then failed far
away (``tau must be in [0, 1), got nan`` in the decision-rule fit). One message names the batch,
the quantity and the setting to change; nothing is saved (the checkpoint is written at the end).
"""

from __future__ import annotations

from typing import Any

import torch


class NonFiniteError(ArithmeticError):
    """Training produced a NaN/inf; the message is one line (batch, quantity, likely setting)."""


def check_batch(step: int, loss: torch.Tensor, logits: torch.Tensor, model: Any, lr: float) -> None:
    """Raise :class:`NonFiniteError` if this batch's loss or logits, or the weights after the
    optimiser step, are not finite."""
    tail = f"learning rate {lr}: lower --lr (or look for extreme input values)"
    if not bool(torch.isfinite(loss).all()):
        raise NonFiniteError(f"training diverged at batch {step}: loss is {loss.item()}; {tail}")
    if not bool(torch.isfinite(logits).all()):
        raise NonFiniteError(f"training diverged at batch {step}: logits are NaN/inf; {tail}")
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise NonFiniteError(
                f"training diverged at batch {step}: weight {name!r} is NaN/inf; {tail}"
            )
