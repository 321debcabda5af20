"""Recording a resumed run once everything has loaded: ``resumes.txt``, config.yaml, TensorBoard.

Apart from ``agents.resume.state`` (what a checkpoint holds, below the training pipeline) because
it reads the parsed invocation (``agents.training.cli``) and the prepared training (``agents.training.pipeline``).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable

from agents.algorithms import ALGOS
from agents.resume.logs import resume_tensorboard
from agents.resume.state import latest_state_path, load
from agents.training.cli import Invocation
from agents.training.pipeline import Training
from lab.atomic import append_line, atomic_write_yaml
from lab.rundir import read_config, utc_now


def record_resume(
    inv: Invocation, argv: list[str], training: Training, log: Callable[[str], None] = print
) -> None:
    """After a resumed run has loaded and validated everything (``prepare_training``): append
    its command to ``resumes.txt``, rewrite config.yaml if the budget changed, cut the
    TensorBoard run back to the checkpoint's step (``agents.resume.logs``). A resume that
    fails before this point leaves the run folder as it was."""
    if not inv.resume:
        return
    assert inv.run_dir is not None
    state_path = latest_state_path(inv.run_dir)
    state = load(state_path) if state_path is not None and state_path.is_file() else None
    command = [sys.executable, *ALGOS[inv.cfg.algo].command, *argv]
    append_line(
        inv.run_dir / "resumes.txt", f"{utc_now():%Y-%m-%dT%H:%M:%SZ} {shlex.join(command)}"
    )
    config = inv.run_dir / "config.yaml"
    if read_config(inv.run_dir) != json.loads(json.dumps(inv.cfg.to_dict())):
        atomic_write_yaml(config, inv.cfg.to_dict())
    log(resume_tensorboard(training.model, inv.cfg.algo, state))
