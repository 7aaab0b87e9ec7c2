"""medallion-dev: the bronze -> silver -> gold orders pipeline. Dagster loads definitions.py; what lives where is in
docs/architecture.md."""
