"""Run identity: folder names any value can produce (names.py), a lock that marks a running run (lock.py),
and who may write into a folder that already holds a run (claim.py)."""
