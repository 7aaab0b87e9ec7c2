"""k8s/, helm/, build-and-deploy.sh, scripts/ and the package's defaults agree with project.env, the one source
of truth for shared names, which none of them can import. Runs without helm or a cluster (test_helm_render.py
checks the rendered chart)."""

import re
import tomllib
from urllib.parse import urlsplit

import pytest
import yaml

from dagster_project.control.client import DEFAULT_LOCATION, DEFAULT_URL
from dagster_project.defs.resources import DEFAULT_DATA_ROOT
from tests.support.project import REPO_ROOT, load_project_env

ENV = load_project_env()
LAYERS = {"bronze": ENV["BRONZE_PVC"], "silver": ENV["SILVER_PVC"], "gold": ENV["GOLD_PVC"]}
SHELL_SCRIPTS = ("build-and-deploy.sh", "scripts/inspect-outputs.sh", ".ci/setup-helm.sh")


def yaml_file(relative: str) -> dict:
    return yaml.safe_load((REPO_ROOT / relative).read_text())


def k8s_objects(file_name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((REPO_ROOT / "k8s" / file_name).read_text()) if d]


def user_deployment() -> dict:
    (deployment,) = yaml_file("helm/values.yaml")["dagster-user-deployments"]["deployments"]
    return deployment


def app_security_context() -> dict:
    return {
        "runAsUser": int(ENV["APP_UID"]),
        "runAsGroup": int(ENV["APP_GID"]),
        "runAsNonRoot": True,
        "fsGroup": int(ENV["APP_GID"]),
    }


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_pvc_manifests_are_named_from_project_env(layer):
    (pvc,) = k8s_objects(f"{layer}-pvc.yaml")
    assert pvc["kind"] == "PersistentVolumeClaim"
    assert pvc["metadata"]["name"] == LAYERS[layer]
    assert pvc["metadata"]["namespace"] == ENV["NAMESPACE"]


def test_user_deployment_names_image_port_and_location():
    deployment = user_deployment()
    assert deployment["name"] == ENV["CODE_LOCATION"]
    assert deployment["image"]["repository"] == ENV["IMAGE"]
    assert deployment["image"]["pullPolicy"] == "IfNotPresent"
    assert deployment["port"] == int(ENV["CODE_SERVER_PORT"])
    # The readiness probe checks that same port (a values file cannot refer to `port`).
    assert f'"localhost:{ENV["CODE_SERVER_PORT"]}"' in deployment["readinessProbe"]["exec"]["command"][-1]
    assert deployment["env"]["DATA_ROOT"] == ENV["DATA_ROOT"]


def test_the_packages_defaults_name_the_location_the_ui_and_the_data_root():
    """What the control CLI and the storage resource fall back to in the pod, where project.env is not."""
    assert ENV["CODE_LOCATION"] == DEFAULT_LOCATION
    assert urlsplit(DEFAULT_URL).port == int(ENV["UI_NODE_PORT"])
    assert ENV["DATA_ROOT"] == DEFAULT_DATA_ROOT


def test_user_deployment_mounts_the_project_pvcs_at_the_data_root():
    deployment = user_deployment()
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in deployment["volumes"]}
    mounts = {claims[m["name"]]: (m["mountPath"], m.get("readOnly", False)) for m in deployment["volumeMounts"]}
    assert mounts == {pvc: (f"{ENV['DATA_ROOT']}/{layer}", layer == "bronze") for layer, pvc in LAYERS.items()}


def test_pods_run_as_the_image_user():
    assert user_deployment()["podSecurityContext"] == app_security_context()
    k8s_jobs = yaml_file("helm/values-k8s-jobs.yaml")["runLauncher"]["config"]["k8sRunLauncher"]
    assert k8s_jobs["runK8sConfig"]["podSpecConfig"]["securityContext"] == app_security_context()
    (seed_job,) = k8s_objects("bronze-seed-job.yaml")
    assert seed_job["spec"]["template"]["spec"]["securityContext"] == app_security_context()


def test_seed_job_uses_the_image_and_the_bronze_pvc():
    (job,) = k8s_objects("bronze-seed-job.yaml")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"].split(":")[0] == ENV["IMAGE"]
    (volume,) = pod["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == ENV["BRONZE_PVC"]
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == f"{ENV['DATA_ROOT']}/bronze"


def test_dockerfile_bakes_the_sample_the_seed_job_copies():
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY .*data/bronze/bronze_data\.csv \$\{APP_DIR\}/data/bronze/bronze_data\.csv$", text, re.M)
    assert re.search(rf"^ENV APP_DIR={re.escape(ENV['APP_DIR'])}\b", text, re.M)
    assert f"ARG APP_UID={ENV['APP_UID']}" in text
    assert f"ARG APP_GID={ENV['APP_GID']}" in text


def test_ui_nodeport_port_and_release():
    (service,) = k8s_objects("dagster-ui-nodeport.yaml")
    (port,) = service["spec"]["ports"]
    assert port["nodePort"] == int(ENV["UI_NODE_PORT"])
    assert service["spec"]["selector"]["app.kubernetes.io/instance"] == ENV["HELM_RELEASE"]


def test_namespace_manifest():
    (namespace,) = k8s_objects("namespace.yaml")
    assert namespace["metadata"]["name"] == ENV["NAMESPACE"]


def test_chart_database_settings_match_the_postgres_manifest():
    values = yaml_file("helm/values.yaml")
    objects = {o["kind"]: o for o in k8s_objects("postgres.yaml")}
    (container,) = objects["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    postgresql = values["postgresql"]
    assert postgresql["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False
    assert postgresql["postgresqlHost"] == objects["Service"]["metadata"]["name"]
    assert postgresql["service"]["port"] == objects["Service"]["spec"]["ports"][0]["port"]
    assert postgresql["postgresqlUsername"] == env["POSTGRES_USER"]
    assert postgresql["postgresqlDatabase"] == env["POSTGRES_DB"]
    assert values["global"]["postgresqlSecretName"] == objects["Secret"]["metadata"]["name"]
    image = postgresql["image"]
    assert f"{image['registry']}/{image['repository']}:{image['tag']}" == container["image"]


def test_chart_version_is_pinned_and_documented_beside_the_dagster_version():
    assert ENV["DAGSTER_CHART_VERSION"] == ENV["DAGSTER_VERSION"]
    pins = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"dagster=={ENV['DAGSTER_VERSION']}" in pins
    header = (REPO_ROOT / "helm" / "values.yaml").read_text().split("\n\n")[0]
    assert f"version {ENV['DAGSTER_CHART_VERSION']}" in header
    assert f"dagster {ENV['DAGSTER_VERSION']}" in header


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_scripts_take_shared_names_from_project_env(script):
    text = (REPO_ROOT / script).read_text()
    assert re.search(r"^source .*project\.env\"?$", text, re.M), f"{script} does not source project.env"
    # Literal copies of shared values would drift; the scripts must use the variables.
    for key in (
        "IMAGE",
        "CODE_LOCATION",
        "CODE_SERVER_PORT",
        "UI_NODE_PORT",
        "BRONZE_PVC",
        "DAGSTER_CHART_VERSION",
        "DAGSTER_CHART_REPO",
    ):
        assert ENV[key] not in text, f"{script} hard-codes {key}={ENV[key]}"
