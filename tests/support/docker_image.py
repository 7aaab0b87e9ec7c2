"""The user-code image: `image` builds the Dockerfile once per session (base: PYTHON_IMAGE, else python:3.11-slim)
and `metrics` collects its size and the build, reload and stop times (container-metrics.json); where the
Dockerfile puts the code. A pytest plugin, loaded by conftest.py."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time

import pytest

from tests.support.container_stack import docker, python_image
from tests.support.project import REPO_ROOT, load_project_env


@pytest.fixture(scope="session")
def metrics(request, tmp_path_factory):
    values: dict = {}
    yield values
    path = tmp_path_factory.getbasetemp() / "container-metrics.json"
    path.write_text(json.dumps(values, indent=2))
    # Shown in CI's log whatever the capture mode: output capture is lifted just for this line.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture and reporter:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\ncontainer metrics ({path}): {json.dumps(values)}")


@pytest.fixture(scope="session")
def image(metrics) -> str:
    base = python_image()
    # One tag per checkout: two checkouts testing on one Docker engine never run each other's image.
    checkout = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:8]
    tag = f"{load_project_env()['IMAGE']}:pytest-{checkout}"
    started = time.perf_counter()
    build = subprocess.run(
        ["docker", "build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}", "-t", tag, str(REPO_ROOT)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    output = build.stdout + build.stderr
    assert build.returncode == 0, f"docker build failed on {base}:\n{output[-5000:]}"
    size = int(docker("image", "inspect", "--format", "{{.Size}}", tag))
    metrics.update(
        base_image=base,
        base_image_mb=round(int(docker("image", "inspect", "--format", "{{.Size}}", base)) / 1e6),
        image_mb=round(size / 1e6),
        build_seconds=round(seconds, 1),
        # The classic builder says "Using cache", BuildKit "CACHED": tells a cold build from a warm one.
        cached_build_steps=output.count("Using cache") + output.count("CACHED"),
    )
    return tag


def dockerfile_paths() -> dict[str, str]:
    """APP_DIR, WORKDIR and where `COPY dagster_project` lands, with ${VAR} expanded from ARG/ENV."""
    text = re.sub(r"\\\n", " ", (REPO_ROOT / "Dockerfile").read_text())
    variables, found = {}, {}
    expand = lambda value: re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), value)  # noqa: E731
    for line in text.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() in ("ARG", "ENV"):
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                variables[key] = expand(value)
        elif instruction.upper() == "WORKDIR":
            found["WORKDIR"] = expand(rest.strip())
        elif instruction.upper() == "COPY":
            words = [w for w in rest.split() if not w.startswith("--")]
            if words[0].rstrip("/") == "dagster_project":
                found["COPY dagster_project"] = expand(words[-1]).rstrip("/")
    return {**found, "APP_DIR": variables.get("APP_DIR"), "PYTHONPATH": variables.get("PYTHONPATH", "")}
