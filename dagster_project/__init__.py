"""medallion-dev: bronze -> silver -> gold orders pipeline. `-m dagster_project` loads `defs`.

`defs` is built on first access (PEP 562), so the package's small tools start without importing Dagster and
every asset: `python -m dagster_project.control reload` runs in the pod after each Tilt sync, and that import
would add seconds to every edit. `__dir__` lists `defs`, which is how Dagster's module scan finds it.
"""


def __getattr__(name: str):
    if name == "defs":
        from dagster_project.repository import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), "defs"]
