"""What Dagster loads and the UI shows: the assets by layer, their checks, the jobs, the storage resource, the
sensors and the debug executor. definitions.py wires them into one Definitions."""
