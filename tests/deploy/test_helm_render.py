"""Render the real dagster chart with real helm in both run modes, with build-and-deploy.sh's own values
arguments, and check what the cluster would receive."""

import subprocess

import kubernetes_validate
import pytest
import yaml

from dagster_project.contract.names import DEBUG_TAG
from tests.support.helm import (
    IMAGE_TAG,
    chart_metadata,
    containers,
    deploy_plan,
    find,
    instance_config,
    pod_specs,
    render,
)
from tests.support.project import REPO_ROOT, RUN_MODES, USER_CODE_DEPLOYMENT, load_project_env

pytestmark = pytest.mark.helm

ENV = load_project_env()
# Named <release>-<dagsterWebserver.nameOverride>; the chart's Deployment and Service share the name.
WEBSERVER = f"{ENV['HELM_RELEASE']}-dagster-webserver"
# An older release a not-updated Docker Desktop may still run, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
KUBERNETES_API_GROUPS = {"v1", "apps", "batch", "rbac.authorization.k8s.io", "policy"}
DAGSTER_IMAGE = f"docker.io/dagster/dagster-celery-k8s:{ENV['DAGSTER_CHART_VERSION']}"


def k8s_manifest(file_name: str, kind: str) -> dict:
    docs = [d for d in yaml.safe_load_all((REPO_ROOT / "k8s" / file_name).read_text()) if d]
    return next(d for d in docs if d["kind"] == kind)


def local_instance() -> dict:
    return yaml.safe_load((REPO_ROOT / "dagster_home" / "dagster.yaml").read_text())


def user_code_pod(objects) -> dict:
    return find(objects, "Deployment", USER_CODE_DEPLOYMENT)["spec"]["template"]["spec"]


@pytest.fixture(params=RUN_MODES)
def rendered(request):
    return request.param, render(request.param)


def test_rendered_with_the_pinned_chart_version():
    assert str(chart_metadata()["version"]) == ENV["DAGSTER_CHART_VERSION"] == ENV["DAGSTER_VERSION"]


def test_user_code_runs_the_deployed_image_as_a_reloadable_code_server(rendered):
    _, objects = rendered
    (container,) = user_code_pod(objects)["containers"]
    image = f"{ENV['IMAGE']}:{IMAGE_TAG}"
    assert container["image"] == image
    assert container["imagePullPolicy"] == "IfNotPresent"
    port = ENV["CODE_SERVER_PORT"]
    assert container["args"] == [
        "dagster",
        "code-server",
        "start",
        "-h",
        "0.0.0.0",
        "-p",
        port,
        "-m",
        "dagster_project.definitions",
    ]
    env = {e["name"]: e for e in container["env"]}
    assert env["DAGSTER_CURRENT_IMAGE"]["value"] == image

    service = find(objects, "Service", ENV["CODE_LOCATION"])
    assert [p["port"] for p in service["spec"]["ports"]] == [int(port)]
    workspace = yaml.safe_load(
        find(objects, "ConfigMap", f"{ENV['HELM_RELEASE']}-workspace-yaml")["data"]["workspace.yaml"]
    )
    assert workspace["load_from"] == [
        {
            "grpc_server": {
                "host": ENV["CODE_LOCATION"],
                "port": int(port),
                "location_name": ENV["CODE_LOCATION"],
            }
        }
    ]


def test_user_code_mounts_the_layers_with_bronze_read_only(rendered):
    _, objects = rendered
    pod = user_code_pod(objects)
    (container,) = pod["containers"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    mounts = {claims[m["name"]]: (m["mountPath"], m.get("readOnly", False)) for m in container["volumeMounts"]}
    root = ENV["DATA_ROOT"]
    assert mounts == {
        ENV["BRONZE_PVC"]: (f"{root}/bronze", True),
        ENV["SILVER_PVC"]: (f"{root}/silver", False),
        ENV["GOLD_PVC"]: (f"{root}/gold", False),
    }


def test_user_code_runs_non_root_with_fs_group(rendered):
    _, objects = rendered
    assert user_code_pod(objects)["securityContext"] == {
        "runAsUser": int(ENV["APP_UID"]),
        "runAsGroup": int(ENV["APP_GID"]),
        "runAsNonRoot": True,
        "fsGroup": int(ENV["APP_GID"]),
    }


def test_user_code_env_reaches_code_server_and_run_pods(rendered):
    _, objects = rendered
    configmap_name = f"{USER_CODE_DEPLOYMENT}-user-env"
    (container,) = user_code_pod(objects)["containers"]
    assert {"configMapRef": {"name": configmap_name}} in container["envFrom"]
    data = find(objects, "ConfigMap", configmap_name)["data"]
    assert data["DATA_ROOT"] == ENV["DATA_ROOT"]
    assert data["LOG_LEVEL"] == "DEBUG"


def test_nodeport_service_targets_the_webserver(rendered):
    _, objects = rendered
    nodeport = k8s_manifest("dagster-ui-nodeport.yaml", "Service")
    selector = nodeport["spec"]["selector"]
    selected = [
        obj["metadata"]["name"]
        for obj in objects
        if obj["kind"] == "Deployment" and selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert selected == [WEBSERVER]
    chart_service = find(objects, "Service", WEBSERVER)
    assert chart_service["spec"]["selector"] == selector
    (port,) = nodeport["spec"]["ports"]
    # The webserver listens on the chart Service's port (its command is `dagster-webserver ... -p <port>`).
    (chart_port,) = chart_service["spec"]["ports"]
    assert port["targetPort"] == chart_port["port"]
    assert port["nodePort"] == int(ENV["UI_NODE_PORT"])
    assert nodeport["spec"]["type"] == "NodePort"


def test_run_launcher_matches_the_run_mode(rendered):
    run_mode, objects = rendered
    launcher = instance_config(objects)["run_launcher"]
    if run_mode == "inprocess":
        assert launcher == {"module": "dagster.core.launcher", "class": "DefaultRunLauncher", "config": {}}
        # The module path the instance will import must exist in the pinned dagster.
        from dagster.core.launcher import DefaultRunLauncher  # noqa: F401
    else:
        assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
        config = launcher["config"]
        assert config["image_pull_policy"] == "IfNotPresent"
        assert config["job_namespace"] == ENV["NAMESPACE"]
        assert config["run_k8s_config"]["pod_spec_config"]["securityContext"] == {
            "runAsUser": int(ENV["APP_UID"]),
            "runAsGroup": int(ENV["APP_GID"]),
            "runAsNonRoot": True,
            "fsGroup": int(ENV["APP_GID"]),
        }


def test_queue_pools_retries_and_retention_equal_the_local_instance(rendered):
    """The cluster's instance behaves as `make dev`'s and the tests' local stack: same queue, same layer pools,
    same retries of runs lost to infrastructure, same tick retention."""
    _, objects = rendered
    cluster, local = instance_config(objects), local_instance()
    for section in ("run_coordinator", "concurrency", "run_retries"):
        assert cluster[section] == local[section], section
    assert cluster["retention"]["sensor"] == local["retention"]["sensor"]
    assert cluster["concurrency"]["pools"] == {"granularity": "op", "default_limit": 1}
    # No tag limits left over from before the pools: one mechanism serializes the writers of a layer. The one
    # tag limit is the debug port's (one debug run at a time, defs/debug_executor.py), which no layer depends on.
    assert "tag_concurrency_limits" not in cluster["run_coordinator"]["config"]
    assert cluster["concurrency"]["runs"].get("tag_concurrency_limits", []) == [
        {"key": DEBUG_TAG, "value": "true", "limit": 1}
    ]


def test_run_monitoring_is_tuned_for_a_dev_loop(rendered):
    """Polled every 5 s in both modes (chart: 120 s), so dead runs free their layer within seconds; the start
    timeout fits the mode: a subprocess in the code-server pod (90 s) or a run pod to schedule (180 s)."""
    run_mode, objects = rendered
    monitoring = instance_config(objects)["run_monitoring"]
    local = local_instance()["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["poll_interval_seconds"] == local["poll_interval_seconds"] == 5
    assert monitoring["free_slots_after_run_end_seconds"] == local["free_slots_after_run_end_seconds"] == 5
    expected_start_timeout = {"inprocess": local["start_timeout_seconds"], "k8s-jobs": 180}[run_mode]
    assert monitoring["start_timeout_seconds"] == expected_start_timeout
    assert local["start_timeout_seconds"] == 90


def test_python_logs_equal_the_local_instance(rendered):
    _, objects = rendered
    assert instance_config(objects)["python_logs"] == local_instance()["python_logs"]
    assert instance_config(objects)["python_logs"]["python_log_level"] == "DEBUG"


def test_storage_points_at_the_postgres_in_k8s(rendered):
    _, objects = rendered
    instance = instance_config(objects)
    service = k8s_manifest("postgres.yaml", "Service")
    secret = k8s_manifest("postgres.yaml", "Secret")
    (postgres,) = k8s_manifest("postgres.yaml", "StatefulSet")["spec"]["template"]["spec"]["containers"]
    postgres_env = {e["name"]: e.get("value") for e in postgres["env"]}
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        db = instance[storage]["config"]["postgres_db"]
        assert db["hostname"] == service["metadata"]["name"]
        assert db["port"] == service["spec"]["ports"][0]["port"]
        assert db["username"] == postgres_env["POSTGRES_USER"]
        assert db["db_name"] == postgres_env["POSTGRES_DB"]
        assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}

    # Every Dagster container reads the password from the Secret k8s/postgres.yaml creates ...
    password_refs = {
        (name, c["name"]): e["valueFrom"]["secretKeyRef"]
        for name, spec in pod_specs(objects)
        for c in containers(spec)
        for e in c.get("env", [])
        if e["name"] == "DAGSTER_PG_PASSWORD"
    }
    assert len(password_refs) == 3  # webserver, daemon, code server
    expected_ref = {"name": secret["metadata"]["name"], "key": "postgresql-password"}
    assert all(ref == expected_ref for ref in password_refs.values())
    assert "postgresql-password" in secret["stringData"]
    # ... which the chart must not render again (helm would refuse to adopt it), and no bundled database.
    assert not [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == expected_ref["name"]]
    assert not [o for o in objects if o["kind"] == "StatefulSet"]


def effective_pull_policy(container: dict) -> str:
    """Kubernetes defaults a missing policy to Always for `latest` or untagged images, else IfNotPresent."""
    if "imagePullPolicy" in container:
        return container["imagePullPolicy"]
    tag = container["image"].rpartition("/")[2].partition(":")[2]
    return "Always" if tag in {"", "latest"} else "IfNotPresent"


def test_every_image_is_official_pinned_and_pulled_only_if_missing(rendered):
    _, objects = rendered
    images = {c["image"]: effective_pull_policy(c) for _, spec in pod_specs(objects) for c in containers(spec)}
    (postgres,) = k8s_manifest("postgres.yaml", "StatefulSet")["spec"]["template"]["spec"]["containers"]
    # The list docs/deploy.md's "Images the release pulls" section documents.
    assert set(images) == {
        f"{ENV['IMAGE']}:{IMAGE_TAG}",
        DAGSTER_IMAGE,
        postgres["image"],
        "docker.io/busybox:1.28",
    }
    assert set(images.values()) == {"IfNotPresent"}


def test_no_bitnami_reference_anywhere(rendered):
    _, objects = rendered
    assert "bitnami" not in yaml.safe_dump_all(objects).lower()


def test_rendered_objects_validate_against_the_kubernetes_schemas(rendered):
    _, objects = rendered
    validated = 0
    for obj in objects:
        if obj["apiVersion"].split("/")[0] not in KUBERNETES_API_GROUPS:
            continue  # CRD-based objects a vendored chart copy may add; not part of the official chart
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
        validated += 1
    assert validated >= 15


def test_inspect_outputs_execs_into_the_rendered_code_server(rendered):
    _, objects = rendered
    printed = subprocess.run(
        [str(REPO_ROOT / "scripts" / "inspect-outputs.sh"), "--dry-run"], check=True, capture_output=True, text=True
    ).stdout.split()
    assert printed[:5] == ["kubectl", "--namespace", ENV["NAMESPACE"], "exec", f"deployment/{USER_CODE_DEPLOYMENT}"]
    assert printed[5:] == ["--", "python", "-m", "dagster_project.summary", "--head", "5"]
    find(objects, "Deployment", USER_CODE_DEPLOYMENT)
    # build-and-deploy.sh points at the same Deployment for logs.
    assert f"logs deployment/{USER_CODE_DEPLOYMENT}" in deploy_plan("inprocess")
