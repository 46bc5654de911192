"""Runners: where the runs of a sweep execute (in-process, Ray tasks, Ray actors, Ray Jobs)."""
