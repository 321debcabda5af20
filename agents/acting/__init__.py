"""Acting with a trained model: safe loading, per-bar inference, the torch-free actors for serving."""
