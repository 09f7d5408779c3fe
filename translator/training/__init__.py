"""One object owns a training run: the time budget, checkpoints and exact resume, progress, the
run log and the run directory.
"""
