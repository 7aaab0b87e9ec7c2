"""The checkout under test: its root, project.env (the one source of shared names), the project's run modes, the
venv's binaries, and the runtime set uv.lock pins."""

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

from packaging.markers import Marker

REPO_ROOT = Path(__file__).resolve().parents[2]
# The venv's binaries: dagster, dagster-webserver, dg, ruff.
BIN = Path(sys.executable).parent
# --run-mode of build-and-deploy.sh and the Tiltfile, and the chart overlay each picks.
RUN_MODES = ("inprocess", "k8s-jobs")

# Prints {name: version} of every distribution in the Python that runs it (the venv, or the image's).
LIST_DISTRIBUTIONS = (
    "import json, importlib.metadata as m; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)


def parse_env_lines(text: str) -> dict[str, str]:
    """KEY=value lines (project.env, or what the .ci/ setup scripts print); blank lines and comments skipped."""
    pairs = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


@cache
def load_project_env() -> dict[str, str]:
    """project.env's KEY=value lines."""
    return parse_env_lines((REPO_ROOT / "project.env").read_text())


# What the chart names after project.env's names: the code-server Deployment, the webserver's in-cluster URL (what
# the Tiltfile's commands in the pod use) and the UI's NodePort on the host.
_ENV = load_project_env()
USER_CODE_DEPLOYMENT = f"{_ENV['HELM_RELEASE']}-dagster-user-deployments-{_ENV['CODE_LOCATION']}"
WEBSERVER_URL = f"http://{_ENV['HELM_RELEASE']}-dagster-webserver.{_ENV['NAMESPACE']}.svc:80"
UI_URL = f"http://localhost:{_ENV['UI_NODE_PORT']}"


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
