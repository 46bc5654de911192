"""orch validate: the model held against published kernel measurements (docs/validation.md).

table.py reads a table of measurements, runner.py runs each row as a sweep through the executor,
score.py compares the model with each measurement, card.py writes the model card."""
