"""Training: configuration, checkpoints and the trainer (single process or torchrun DDP)."""
