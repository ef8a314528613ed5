"""What a run folder holds, read and written in one place: checkpoints and snapshots, the
JSON-lines records, and the run's state (running, finished, interrupted, diverged)."""
