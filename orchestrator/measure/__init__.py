"""`orch measure`: the real benchmarks (execl, spawn) on this host. Kept free of imports: the
spawn worker (spawn.py) is started once per copy."""
