"""The manual deploy path on the real one-node cluster, end to end: `build-and-deploy.sh` from nothing in
inprocess mode, medallion_job launched through the UI's NodePort (GraphQL, as the UI does) writing exactly what a
local `make run` writes onto the PVCs, a second run of the script changing nothing, k8s-jobs mode running each run
as a Job whose pod mounts the PVCs, and `helm uninstall` + install keeping every layer. The tests share one
cluster and run in file order."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time

import pytest
import yaml

from dagster_project.control.client import Webserver
from tests.support.cluster import ENV, NAMESPACE, UI_URL, USER_CODE, build_and_deploy, running_cluster, with_stand_ins
from tests.support.project import REPO_ROOT
from tests.support.runs import OUTPUTS, run_dagster_job
from tests.support.stack import copy_sample_bronze, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]

LAYER_PVCS = (ENV["BRONZE_PVC"], ENV["SILVER_PVC"], ENV["GOLD_PVC"])
SAMPLE = REPO_ROOT / "data" / "bronze" / "bronze_data.csv"
# A line the silver step logs through the loguru bridge (plain stdout in the pod) on every run.
PIPELINE_LINE = "cleaning bronze rows from /data/bronze/bronze_data.csv"
TIMES: dict[str, float] = {}  # printed at the end of the module (the closing note's figures)


@pytest.fixture(scope="module")
def cluster():
    cluster = with_stand_ins(running_cluster())
    yield cluster
    print("\ncluster deploy times (s): " + json.dumps({k: round(v, 1) for k, v in TIMES.items()}))


@pytest.fixture(scope="module")
def local_outputs(tmp_path_factory) -> dict[str, bytes]:
    """What `make run` writes for the sample bronze on this machine, with no cluster."""
    work = tmp_path_factory.mktemp("local-run")
    copy_sample_bronze(work / "data")
    done = run_dagster_job("medallion_job", work / "data", work / "dagster_home")
    assert done.returncode == 0, done.stderr[-4000:]
    return {name: (work / "data" / name).read_bytes() for name in OUTPUTS}


def data_path(name: str) -> str:
    return f"{ENV['DATA_ROOT']}/{name}"


def layer_digests(cluster) -> dict[str, str | None]:
    files = {"bronze/bronze_data.csv", *OUTPUTS}
    return {name: _digest(cluster.read_file(data_path(name))) for name in sorted(files)}


def _digest(content: bytes | None) -> str | None:
    return hashlib.sha256(content).hexdigest() if content is not None else None


def run_medallion_job(timeout: float = 600) -> float:
    """medallion_job launched through the NodePort, as the UI launches it; seconds from submit to SUCCESS."""
    webserver = Webserver(UI_URL)
    started = time.monotonic()
    run_id = webserver.submit("medallion_job")
    status = webserver.wait(run_id, timeout=timeout)
    seconds = time.monotonic() - started
    failures = [e["message"] for e in webserver.events(run_id) if e.get("level") == "ERROR"]
    assert status.value == "SUCCESS", f"run {run_id} ended {status.value}: {failures}"
    return seconds


def pod_uids(cluster) -> dict[str, str]:
    """Every pod of the namespace by the workload that owns it (a restart or a new pod changes the uid)."""
    pods = cluster.get("pods")["items"]
    return {p["metadata"]["generateName"] or p["metadata"]["name"]: p["metadata"]["uid"] for p in pods
            if p["status"]["phase"] == "Running"}  # fmt: skip


def test_inprocess_deploy_from_nothing(cluster):
    cluster.delete_namespace()
    deployed = build_and_deploy(cluster, "inprocess", tag="cluster-test-1")
    TIMES["build-and-deploy inprocess (from nothing)"] = deployed.seconds
    assert f"pushing to the cluster's local registry {cluster.registry}" in deployed.output

    pvcs = {p["metadata"]["name"]: p["status"]["phase"] for p in cluster.get("pvc")["items"]}
    assert pvcs == {**dict.fromkeys(LAYER_PVCS, "Bound"), "postgres-pvc": "Bound"}
    postgres = cluster.get("statefulset", "postgres")
    assert postgres["status"].get("readyReplicas") == 1
    code_server = cluster.get("deployment", USER_CODE)
    assert code_server["status"].get("readyReplicas") == 1
    (container,) = code_server["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{cluster.registry}/{ENV['IMAGE']}:{deployed.tag}"
    release = subprocess.run(["helm", "status", ENV["HELM_RELEASE"], "--namespace", NAMESPACE, "-o", "json"],
                             env=cluster.env(), capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(release.stdout)["info"]["status"] == "deployed"
    # The seed Job copied the image's sample onto the empty bronze PVC.
    seed = cluster.get("job", "bronze-seed")
    assert seed["status"].get("succeeded") == 1
    assert cluster.read_file(data_path("bronze/bronze_data.csv")) == SAMPLE.read_bytes()
    assert "seeded /data/bronze/bronze_data.csv" in cluster.kubectl("logs", "job/bronze-seed").stdout.decode()


def test_the_ui_node_port_answers_on_localhost(cluster):
    import requests

    started = time.monotonic()
    page = requests.get(UI_URL, timeout=30)
    assert page.status_code == 200 and "Dagster" in page.text
    answer = requests.post(f"{UI_URL}/graphql", json={"query": "{ version }"}, timeout=30).json()
    assert answer["data"]["version"].startswith(ENV["DAGSTER_VERSION"].rsplit(".", 1)[0])
    TIMES["UI answer"] = time.monotonic() - started


def test_medallion_job_through_the_ui_writes_what_make_run_writes(cluster, local_outputs):
    TIMES["submit -> SUCCESS inprocess"] = run_medallion_job()
    on_pvcs = {name: cluster.read_file(data_path(name)) for name in OUTPUTS}
    assert on_pvcs == local_outputs
    # The run executed in the code-server pod: the pipeline's lines are in that pod's log (kubectl logs, the
    # Tilt pane), and no run Job exists in this mode.
    log = cluster.kubectl("logs", f"deploy/{USER_CODE}", timeout=60).stdout.decode()
    assert PIPELINE_LINE in log, log[-3000:]
    assert not cluster.get("jobs", "--selector", "app.kubernetes.io/component=run_worker")["items"]


def test_running_the_script_again_changes_nothing(cluster):
    before_pods, before_files = pod_uids(cluster), layer_digests(cluster)
    deployed = build_and_deploy(cluster, "inprocess", tag="cluster-test-1")
    TIMES["build-and-deploy inprocess (again, same tag)"] = deployed.seconds
    assert pod_uids(cluster) == before_pods
    assert layer_digests(cluster) == before_files


def test_k8s_jobs_mode_runs_each_run_as_a_job_on_the_pvcs(cluster, local_outputs):
    deployed = build_and_deploy(cluster, "k8s-jobs", tag="cluster-test-2")
    tag = deployed.tag
    TIMES["build-and-deploy k8s-jobs (switch)"] = deployed.seconds
    webserver = Webserver(UI_URL)
    started = time.monotonic()
    run_id = webserver.submit("medallion_job")
    job_name = f"dagster-run-{run_id}"
    job = wait_for(lambda: cluster.exists("job", job_name) and cluster.get("job", job_name), 180,
                   f"the Job {job_name}", poll=0.5)  # fmt: skip
    pod_spec = job["spec"]["template"]["spec"]
    (container,) = pod_spec["containers"]
    assert container["image"] == f"{cluster.registry}/{ENV['IMAGE']}:{tag}"
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod_spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == set(LAYER_PVCS)
    assert pod_spec["securityContext"]["fsGroup"] == int(ENV["APP_GID"])
    # Cleaned up per the values, by the cluster's TTL controller.
    launcher = yaml.safe_load((REPO_ROOT / "helm/values-k8s-jobs.yaml").read_text())["runLauncher"]["config"]
    ttl = launcher["k8sRunLauncher"]["runK8sConfig"]["jobSpecConfig"]["ttlSecondsAfterFinished"]
    assert job["spec"]["ttlSecondsAfterFinished"] == ttl
    status = webserver.wait(run_id, timeout=600)
    TIMES["submit -> SUCCESS k8s-jobs"] = time.monotonic() - started
    assert status.value == "SUCCESS", [e["message"] for e in webserver.events(run_id) if e.get("level") == "ERROR"]
    assert {name: cluster.read_file(data_path(name)) for name in OUTPUTS} == local_outputs
    # The run worker's pod exits once the run has reported SUCCESS.
    wait_for(lambda: [p["status"]["phase"] for p in cluster.pods(f"job-name={job_name}")] == ["Succeeded"], 120,
             f"the pod of {job_name} to succeed")  # fmt: skip


def test_helm_uninstall_and_install_again_keeps_every_layer(cluster):
    kept = layer_digests(cluster)
    assert all(kept.values()), kept
    subprocess.run(["helm", "uninstall", ENV["HELM_RELEASE"], "--namespace", NAMESPACE, "--wait"],
                   env=cluster.env(), capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
    # The finished run pods of the k8s-jobs test carry the release's label too but belong to their Jobs.
    wait_for(lambda: not [p for p in cluster.pods(f"app.kubernetes.io/instance={ENV['HELM_RELEASE']}")
                          if p["status"]["phase"] not in ("Succeeded", "Failed")], 180,
             "the release's pods to go")  # fmt: skip
    deployed = build_and_deploy(cluster, "inprocess", tag="cluster-test-3")
    TIMES["build-and-deploy inprocess (after helm uninstall)"] = deployed.seconds
    assert layer_digests(cluster) == kept
    # The seed Job found bronze there and left it alone.
    assert "left untouched" in cluster.kubectl("logs", "job/bronze-seed").stdout.decode()
