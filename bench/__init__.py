"""`make bench`: benchmarks of the firmware, the deploy and the backend (see bench/run.py)."""
