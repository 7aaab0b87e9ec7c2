"""build-and-deploy.sh without a cluster: --help, the refusal paths, and the --dry-run plan, with
tripwire docker/kubectl/helm/kind on PATH that record any call (a dry run must make none)."""

import os
import re
import shutil
import subprocess

import pytest

from tests.support.helm import planned_command
from tests.support.project import REPO_ROOT, load_project_env

ENV = load_project_env()
SCRIPT = REPO_ROOT / "build-and-deploy.sh"
TOOLS = ("docker", "kubectl", "helm", "kind")
# What a machine without a chart repository or registry sets (the test cluster); unset for a user.
DEPLOY_SETTINGS = ("DAGSTER_CHART", "DOCKER_BUILD_NETWORK", "EXTRA_HELM_VALUES", "POSTGRES_IMAGE", "PYTHON_IMAGE")


@pytest.fixture
def tripwire_path(tmp_path):
    """PATH whose deployment tools only log that they were called, and a reader for that log."""
    calls = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        shim = bin_dir / tool
        shim.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nexit 97\n')
        shim.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}", lambda: calls.read_text() if calls.exists() else ""


def run_script(*args, path=None, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    settings = {"IMAGE_TAG", "KUBE_CONTEXT", "ALLOW_ANY_CONTEXT", *DEPLOY_SETTINGS}
    env = {k: v for k, v in os.environ.items() if k not in settings}
    env.update(environ or {})
    if path:
        env["PATH"] = path
    return subprocess.run([str(SCRIPT), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True)


def test_help_describes_the_options():
    result = run_script("--help")
    assert result.returncode == 0
    for text in ("--run-mode", "inprocess", "k8s-jobs", "--dry-run", "--tag", "--allow-any-context"):
        assert text in result.stdout


@pytest.mark.parametrize("run_mode", ["inprocess", "k8s-jobs"])
def test_dry_run_prints_the_whole_plan_and_runs_nothing(run_mode, tripwire_path):
    path, calls = tripwire_path
    result = run_script("--dry-run", "--run-mode", run_mode, "--tag", "abc-1", "--context", "orbstack", path=path)
    assert result.returncode == 0, result.stderr
    assert calls() == ""

    plan = result.stdout
    image = ENV["IMAGE"]
    build = planned_command(plan, "docker build")
    assert build[-5:] == ["--tag", f"{image}:latest", "--tag", f"{image}:abc-1", "."]
    assert planned_command(plan, "kubectl --context orbstack apply -f k8s/namespace.yaml")
    for manifest in sorted((REPO_ROOT / "k8s").glob("*.yaml")):
        assert planned_command(plan, f"kubectl --context orbstack apply -f k8s/{manifest.name}")
    assert planned_command(plan, "helm repo add dagster https://dagster-io.github.io/helm")
    assert planned_command(plan, "helm repo update dagster")
    upgrade = planned_command(plan, "helm upgrade --install")
    assert upgrade[3:5] == [ENV["HELM_RELEASE"], "dagster/dagster"]
    words = " ".join(upgrade)
    assert f"--namespace {ENV['NAMESPACE']}" in words
    assert f"--version {ENV['DAGSTER_CHART_VERSION']}" in words
    assert f"-f helm/values.yaml -f helm/values-{run_mode}.yaml" in words
    assert "--set dagster-user-deployments.deployments[0].image.tag=abc-1" in words
    assert "--wait" in upgrade
    assert f"http://localhost:{ENV['UI_NODE_PORT']}" in plan
    assert "scripts/inspect-outputs.sh" in plan

    # Image before manifests, manifests and the bronze seed before the chart that needs them, and the code
    # location reloaded in the webserver last (a launch right after the script must reach the new code server).
    reload = planned_command(plan, f"kubectl --context orbstack --namespace {ENV['NAMESPACE']} exec")
    user_code = f"deployment/{ENV['HELM_RELEASE']}-dagster-user-deployments-{ENV['CODE_LOCATION']}"
    webserver = f"http://{ENV['HELM_RELEASE']}-dagster-webserver.{ENV['NAMESPACE']}.svc:80"
    assert reload[6:] == [user_code, "--", "python", "-m", "dagster_project.control", "--url", webserver,
                          "--location", ENV["CODE_LOCATION"], "reload"]  # fmt: skip
    markers = ("+ docker build", "+ kubectl", "job/bronze-seed", "+ helm upgrade", "dagster_project.control")
    order = [plan.index(marker) for marker in markers]
    assert order == sorted(order)


def test_settings_of_a_closed_network_reach_the_commands(tripwire_path, tmp_path):
    """The local chart is installed as it is (no repository), the extra values file comes last, the build uses
    the given network, and the Postgres manifest's image is replaced (the test cluster's stand-ins)."""
    path, calls = tripwire_path
    chart, values = tmp_path / "dagster", tmp_path / "values-test.yaml"
    settings = {"DAGSTER_CHART": str(chart), "EXTRA_HELM_VALUES": str(values), "DOCKER_BUILD_NETWORK": "host",
                "POSTGRES_IMAGE": "registry.test/medallion-dev/postgres:15"}  # fmt: skip
    result = run_script("--dry-run", "--tag", "t3", "--context", "orbstack", path=path, environ=settings)
    assert result.returncode == 0, result.stderr
    assert calls() == ""
    plan = result.stdout
    assert "helm repo" not in plan
    upgrade = planned_command(plan, "helm upgrade --install")
    assert upgrade[3:5] == [ENV["HELM_RELEASE"], str(chart)] and "--version" not in upgrade
    files = [upgrade[i + 1] for i, word in enumerate(upgrade) if word == "-f"]
    assert files == ["helm/values.yaml", "helm/values-inprocess.yaml", str(values)]
    build = planned_command(plan, "docker build")
    assert build[build.index("--network") + 1] == "host"
    assert (
        "k8s/postgres.yaml: docker.io/library/postgres:17-bookworm -> registry.test/medallion-dev/postgres:15" in plan
    )


def test_kind_cluster_gets_the_images_loaded(tripwire_path):
    path, calls = tripwire_path
    result = run_script("--dry-run", "--tag", "t2", "--context", "kind-dev", path=path)
    assert result.returncode == 0, result.stderr
    load = planned_command(result.stdout, "kind load docker-image")
    assert load[3:] == [f"{ENV['IMAGE']}:latest", f"{ENV['IMAGE']}:t2", "--name", "dev"]
    assert calls() == ""


def test_default_tag_is_unique_per_build(tripwire_path):
    path, _ = tripwire_path
    result = run_script("--dry-run", "--context", "docker-desktop", path=path)
    assert result.returncode == 0, result.stderr
    build = planned_command(result.stdout, "docker build")
    tag = build[-2].split(":", 1)[1]
    assert re.fullmatch(r"([0-9a-f]{12}(-dirty)?|nogit)-[0-9]{14}", tag), tag


def test_refuses_a_context_that_is_not_a_local_cluster(tripwire_path):
    path, calls = tripwire_path
    result = run_script("--dry-run", "--context", "gke_prod_europe", path=path)
    assert result.returncode == 1
    assert "not a known local cluster" in result.stderr
    assert "--allow-any-context" in result.stderr
    assert "+ docker" not in result.stdout
    assert calls() == ""

    allowed = run_script("--dry-run", "--context", "gke_prod_europe", "--allow-any-context", path=path)
    assert allowed.returncode == 0, allowed.stderr


def test_rejects_an_unknown_run_mode():
    result = run_script("--dry-run", "--run-mode", "celery")
    assert result.returncode == 1
    assert "inprocess or k8s-jobs" in result.stderr


def test_missing_docker_stops_a_real_run_with_a_hint(tmp_path):
    # Only what the script needs before its tool check: bash for the shebang and dirname.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    result = run_script("--tag", "x", path=str(bin_dir))
    assert result.returncode == 1
    assert "docker not found on PATH" in result.stderr
    assert "OrbStack" in result.stderr
