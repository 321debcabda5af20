"""Layer 4: PPO/SAC entry points, model loading, tune, registry, predict, paper."""
