"""Checkpoints and resuming: what a checkpoint holds besides the zip, so a resumed run is the same run."""
