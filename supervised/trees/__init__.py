"""The stacked tree-ensemble baseline (scikit-learn): train, check, save safely, act as a policy.

``python -m supervised.trees --env btc1h`` trains it (see ``supervised.trees.train``).
"""
