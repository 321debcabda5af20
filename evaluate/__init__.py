"""Layer 5: the evaluation command line, head-to-head, reports and walk-forward."""
