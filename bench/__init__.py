"""Benchmarks of medallion_job against plain pandas and DuckDB implementations of the same contract."""
