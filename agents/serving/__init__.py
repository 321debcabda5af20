"""Serving models: the registry, the latest-bar decision, paper trading, scheduled retraining."""
