"""The training loop and what it writes: run folders, checkpoints, stats, plots, EMA."""
