"""Layer 0 infrastructure: run folders, config, the trial ledger, the Ray execution engine."""
