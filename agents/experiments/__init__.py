"""Experiments over many runs: seed groups and hyperparameter searches (Optuna on the lab engine)."""
