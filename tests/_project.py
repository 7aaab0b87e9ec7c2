"""project.env at import time, for module-level constants and test parametrization (the `project_env`
fixture of conftest.py serves test bodies)."""

from functools import cache

from tests.conftest import parse_env_file
from tests.stack import REPO_ROOT

__all__ = ["REPO_ROOT", "load_project_env"]


@cache
def load_project_env() -> dict[str, str]:
    return parse_env_file(REPO_ROOT / "project.env")
