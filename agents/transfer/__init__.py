"""Starting RL from supervised weights: classifier warm start and pretrained-backbone LoRA fine-tuning."""
