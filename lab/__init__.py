"""Layer 0: run folders + provenance, atomic writes, the config mechanism, the CLI wrapper."""
