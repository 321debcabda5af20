"""Layer 3: the supervised classifier, tree ensembles, labels and warm-start export."""
