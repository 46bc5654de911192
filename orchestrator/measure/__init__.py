"""`orch measure`: the real benchmarks (execl, spawn, sysexec) on this host (bench.py), and what
perf records around them (perf.py, reading perf's text with perf_text.py)."""
