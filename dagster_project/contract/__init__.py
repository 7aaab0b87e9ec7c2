"""The data contract as plain code: the shared names, the rules, CSV in and out, what the UI shows of a file,
the loguru bridge and code versions. No Dagster definitions live here."""
