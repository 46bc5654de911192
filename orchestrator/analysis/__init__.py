"""Analysis: statistics over a sweep's dataset, plots, and the reports people read."""
