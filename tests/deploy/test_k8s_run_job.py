"""In k8s-jobs mode, let dagster-k8s build the Kubernetes Job of a run exactly as the daemon would.

The K8sRunLauncher is created from the run_launcher section of the rendered instance ConfigMap (validated
by dagster's own config schema) and the run carries the code location's container context and image as
the rendered code-server Deployment hands them to `dagster code-server start`. launch_run() then builds
the Job with dagster-k8s's job construction; the only substitute is the Kubernetes API endpoint, which
records the Job instead of creating it (there is no cluster here).
"""

import json

import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import process_config
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.storage.dagster_run import DagsterRun
from dagster_k8s import K8sRunLauncher

from tests.support.helm import find, instance_config, render
from tests.support.project import USER_CODE_DEPLOYMENT, load_project_env

pytestmark = pytest.mark.helm

ENV = load_project_env()

# Lets the kubernetes client initialise outside a cluster; no request is ever sent to this server.
OFFLINE_KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "offline", "cluster": {"server": "https://127.0.0.1:9"}}],
    "users": [{"name": "offline", "user": {"token": "unused"}}],
    "contexts": [{"name": "offline", "context": {"cluster": "offline", "user": "offline"}}],
    "current-context": "offline",
}


class RecordingBatchApi:
    """Stands in for the Kubernetes batch API: keeps each Job dagster-k8s submits."""

    def __init__(self):
        self.jobs = []

    def create_namespaced_job(self, body, namespace, **_):
        self.jobs.append((namespace, body))


@pytest.fixture(scope="module")
def rendered():
    return render("k8s-jobs")


@pytest.fixture
def launched_job(rendered, tmp_path):
    """(namespace, V1Job) that the K8sRunLauncher of the rendered instance creates for one run."""
    launcher_section = instance_config(rendered)["run_launcher"]
    assert (launcher_section["module"], launcher_section["class"]) == ("dagster_k8s", "K8sRunLauncher")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(OFFLINE_KUBECONFIG))
    # The rendered config loads the in-cluster service account; outside a pod a kubeconfig replaces it.
    config = {
        **launcher_section["config"],
        "load_incluster_config": False,
        "kubeconfig_file": str(kubeconfig),
    }
    validated = process_config(K8sRunLauncher.config_type(), config)
    assert validated.success, validated.errors
    batch_api = RecordingBatchApi()
    launcher = K8sRunLauncher(**validated.value, k8s_client_batch_api=batch_api)

    (code_server,) = find(rendered, "Deployment", USER_CODE_DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in code_server["env"]}
    origin = JobPythonOrigin(
        job_name="medallion_job",
        repository_origin=RepositoryPythonOrigin(
            executable_path="/opt/venv/bin/python",
            code_pointer=ModuleCodePointer("dagster_project.definitions", "defs", working_directory=None),
            container_image=env["DAGSTER_CURRENT_IMAGE"],
            container_context=json.loads(env["DAGSTER_CONTAINER_CONTEXT"]),
        ),
    )
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    with DagsterInstance.local_temp(str(dagster_home)) as instance:
        launcher.register_instance(instance)
        run = instance.add_run(DagsterRun(job_name="medallion_job", job_code_origin=origin))
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    (job,) = batch_api.jobs
    return job


def test_run_job_lands_in_the_release_namespace(launched_job):
    namespace, _ = launched_job
    assert namespace == ENV["NAMESPACE"]


def test_run_pod_uses_the_deployed_image_without_pulling(launched_job, rendered):
    _, job = launched_job
    (container,) = job.spec.template.spec.containers
    (code_server,) = find(rendered, "Deployment", USER_CODE_DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    assert container.image == code_server["image"]
    assert container.image.startswith(f"{ENV['IMAGE']}:")
    assert container.image_pull_policy == "IfNotPresent"


def test_run_pod_mounts_the_layers_with_bronze_read_only(launched_job):
    _, job = launched_job
    pod = job.spec.template.spec
    (container,) = pod.containers
    claims = {v.name: v.persistent_volume_claim.claim_name for v in pod.volumes if v.persistent_volume_claim}
    mounts = {claims[m.name]: (m.mount_path, bool(m.read_only)) for m in container.volume_mounts if m.name in claims}
    root = ENV["DATA_ROOT"]
    assert mounts == {
        ENV["BRONZE_PVC"]: (f"{root}/bronze", True),
        ENV["SILVER_PVC"]: (f"{root}/silver", False),
        ENV["GOLD_PVC"]: (f"{root}/gold", False),
    }
    # Launcher config and container context must not both contribute a volume of the same name.
    assert len({v.name for v in pod.volumes}) == len(pod.volumes)


def test_run_pod_runs_non_root_with_fs_group(launched_job):
    _, job = launched_job
    security = job.spec.template.spec.security_context
    assert security.fs_group == int(ENV["APP_GID"])
    assert security.run_as_user == int(ENV["APP_UID"])
    assert security.run_as_group == int(ENV["APP_GID"])
    assert security.run_as_non_root is True


def test_run_pod_gets_the_pipeline_env_and_database_password(launched_job, rendered):
    _, job = launched_job
    (container,) = job.spec.template.spec.containers
    env_configmaps = {source.config_map_ref.name for source in container.env_from if source.config_map_ref}
    user_env = f"{USER_CODE_DEPLOYMENT}-user-env"
    assert user_env in env_configmaps
    assert find(rendered, "ConfigMap", user_env)["data"]["DATA_ROOT"] == ENV["DATA_ROOT"]
    password = next(e for e in container.env if e.name == "DAGSTER_PG_PASSWORD")
    secret = instance_config(rendered)["run_launcher"]["config"]["postgres_password_secret"]
    assert password.value_from.secret_key_ref.name == secret
    # <python> -m dagster api execute_run <serialized run args>
    assert container.args[-4:-1] == ["dagster", "api", "execute_run"]
