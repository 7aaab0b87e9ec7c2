"""project.env as a dict, for tests written before tests/conftest.py provides the `project_env` fixture."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_project_env(path: Path = REPO_ROOT / "project.env") -> dict[str, str]:
    """Parse the plain KEY=value lines the shell scripts `source`; comments and blank lines are skipped."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values
