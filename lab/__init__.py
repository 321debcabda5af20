"""Layer 0 infrastructure: run folders + provenance, atomic writes, the config mechanism, the CLI
wrapper, the trial ledger and the Ray execution engine. Imports nothing of ours."""
