"""Layer 4: RL agents. Top level: the algorithm and learner tables and the commands users type.

Subpackages by role: ``training`` (one run), ``resume`` (checkpoints), ``transfer`` (supervised
weights into RL), ``acting`` (loading and inference), ``serving`` (registry, predict, paper,
retrain), ``experiments`` (seed groups, tune).
"""
