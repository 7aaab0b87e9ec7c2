"""Render the official Dagster chart with a real helm binary, using the exact values arguments that
build-and-deploy.sh passes to `helm upgrade --install` (read from its --dry-run plan).

The chart comes from DAGSTER_CHART (a chart directory or .tgz) and helm from HELM_BIN or PATH;
.ci/setup-helm.sh provides both, and `make test` runs it. Without them the calling test is skipped with the
reason, or fails where MEDALLION_REQUIRE lists "helm" / "dagster-chart".
"""

import os
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.support.project import REPO_ROOT, load_project_env
from tests.support.tools import require_tool

# What makes each skip go away, for the skip reasons.
HELM_MISSING = "no helm: `make test` gets it from PyPI with .ci/setup-helm.sh (or set HELM_BIN)"
CHART_MISSING = (
    "DAGSTER_CHART is not set: `make test` pulls the chart with .ci/setup-helm.sh where the chart repository is"
    " reachable; offline, set DAGSTER_CHART_MIRROR to a copy holding dagster/dagster-<version>.tgz"
)
IMAGE_TAG = "render-test-0001"
# Options of the script's `helm upgrade` that select values; the others (--wait, --kube-context, ...)
# only matter against a live cluster.
VALUE_OPTIONS = {"-f", "--values", "--set", "--set-string", "--namespace"}
CLUSTER_ONLY_OPTIONS_WITH_VALUE = {"--kube-context", "--version", "--timeout"}
CLUSTER_ONLY_FLAGS = {"--wait", "--skip-schema-validation"}


def helm_binary() -> str:
    configured = os.environ.get("HELM_BIN")
    if configured:
        if not os.access(configured, os.X_OK):
            pytest.fail(f"HELM_BIN={configured} is not an executable file")
        return configured
    found = shutil.which("helm")
    require_tool("helm", found is not None, HELM_MISSING)
    return found


def chart_path() -> str:
    configured = os.environ.get("DAGSTER_CHART")
    require_tool(
        "dagster-chart",
        bool(configured),
        CHART_MISSING,
    )
    if not Path(configured).exists():
        pytest.fail(f"DAGSTER_CHART={configured} does not exist")
    return configured


@cache
def chart_metadata() -> dict:
    shown = subprocess.run([helm_binary(), "show", "chart", chart_path()], check=True, capture_output=True, text=True)
    return yaml.safe_load(shown.stdout)


def require_pinned_chart() -> None:
    """A chart of another version would test values the deployment never installs."""
    pinned = load_project_env()["DAGSTER_CHART_VERSION"]
    found = str(chart_metadata()["version"])
    if found != pinned:
        pytest.fail(f"DAGSTER_CHART is chart version {found}, project.env pins {pinned}")


@cache
def deploy_plan(run_mode: str, extra_args: tuple[str, ...] = ()) -> str:
    """The commands build-and-deploy.sh would run, as it prints them with --dry-run."""
    completed = subprocess.run(
        ["./build-and-deploy.sh", "--dry-run", "--run-mode", run_mode, "--tag", IMAGE_TAG, *extra_args],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return completed.stdout


def planned_command(plan: str, prefix: str) -> list[str]:
    """The single planned command whose words start with `prefix`, split as the shell would."""
    matches = [shlex.split(line[2:]) for line in plan.splitlines() if line.startswith("+ ")]
    matches = [words for words in matches if words[: len(prefix.split())] == prefix.split()]
    assert len(matches) == 1, f"expected one `{prefix}` command in the plan, found {len(matches)}"
    return matches[0]


def helm_upgrade_words(run_mode: str) -> tuple[str, str, list[str]]:
    """(release, chart reference, values options) of the script's `helm upgrade --install`."""
    words = planned_command(deploy_plan(run_mode), "helm upgrade --install")
    release, chart_ref, options = words[3], words[4], words[5:]
    value_args = []
    index = 0
    while index < len(options):
        option = options[index]
        if option in VALUE_OPTIONS:
            value_args += options[index : index + 2]
            index += 2
        elif option in CLUSTER_ONLY_OPTIONS_WITH_VALUE:
            index += 2
        elif option in CLUSTER_ONLY_FLAGS:
            index += 1
        else:
            pytest.fail(f"build-and-deploy.sh passes {option!r} to helm; teach tests/support/helm.py what it means")
    return release, chart_ref, value_args


@cache
def render(run_mode: str) -> tuple[dict, ...]:
    """Every object the release would create in `run_mode`."""
    require_pinned_chart()
    release, _, value_args = helm_upgrade_words(run_mode)
    # The chart's values.schema.json pulls Kubernetes definitions from the internet; the offline schema
    # check lives in test_helm_values_schema.py.
    completed = subprocess.run(
        [helm_binary(), "template", release, chart_path(), "--skip-schema-validation", *value_args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    return tuple(doc for doc in yaml.safe_load_all(completed.stdout) if doc)


def find(objects, kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def instance_config(objects) -> dict:
    """dagster.yaml as the chart writes it into the instance ConfigMap."""
    release = load_project_env()["HELM_RELEASE"]
    configmap = find(objects, "ConfigMap", f"{release}-instance")
    return yaml.safe_load(configmap["data"]["dagster.yaml"])


def pod_specs(objects):
    """(object name, pod spec) of every workload in the render."""
    for obj in objects:
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]
        elif obj["kind"] == "Pod":
            yield obj["metadata"]["name"], obj["spec"]


def containers(pod_spec: dict) -> list[dict]:
    return [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]
