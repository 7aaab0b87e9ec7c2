"""medallion-dev: bronze -> silver -> gold orders pipeline. `-m dagster_project` loads `defs`."""

from dagster_project.repository import defs

__all__ = ["defs"]
