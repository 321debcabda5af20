"""Layer 2: the one backtest runner, metrics, statistics, trades and baseline policies (numpy + envs)."""
