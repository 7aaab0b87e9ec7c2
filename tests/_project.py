"""project.env at import time, for module-level constants and test parametrization (the `project_env`
fixture of conftest.py serves test bodies), and the runtime set uv.lock pins."""

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path

from packaging.markers import Marker

from tests.conftest import parse_env_file
from tests.stack import REPO_ROOT

__all__ = [
    "LIST_DISTRIBUTIONS",
    "REPO_ROOT",
    "installed_versions",
    "load_project_env",
    "locked_runtime_versions",
    "uv_binary",
]

# Prints {name: version} of every distribution in the Python that runs it (the venv, or the image's).
LIST_DISTRIBUTIONS = (
    "import json, importlib.metadata as m; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)


@cache
def load_project_env() -> dict[str, str]:
    return parse_env_file(REPO_ROOT / "project.env")


def uv_binary() -> Path | None:
    """The uv `make install` uses: the Makefile exports its path as UV."""
    found = os.environ.get("UV")
    return Path(found) if found and Path(found).is_file() else None


def canonical_versions(versions: dict[str, str]) -> dict[str, str]:
    """Distribution names as PEP 503 compares them (Pillow, pillow and pil-low are one name)."""
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in versions.items()}


def locked_runtime_versions(uv: Path) -> dict[str, str]:
    """What uv.lock installs for the project's runtime dependencies (no extras) on this platform."""
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-emit-project", "--no-hashes", "--no-header", "--no-annotate"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    versions = {}
    for line in exported.splitlines():
        requirement, _, marker = line.partition(";")
        if requirement.strip() and (not marker.strip() or Marker(marker).evaluate()):
            name, _, version = requirement.strip().partition("==")
            versions[name] = version
    return canonical_versions(versions)


def installed_versions(output: str) -> dict[str, str]:
    return canonical_versions(json.loads(output))
