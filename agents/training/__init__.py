"""Training an RL run: config, command line, env builders, model, callbacks, learn, validation."""
