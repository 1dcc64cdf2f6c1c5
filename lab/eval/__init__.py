"""Evaluation against ground truth (docs/evaluation.md): synthetic figures, the paper's 90-view protocol,
the mirror baseline, and the scores. `python -m lab.eval` runs it."""
