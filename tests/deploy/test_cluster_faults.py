"""Faults that kill pods, done for real with kubectl on the one-node test cluster: the code-server pod
force-deleted in the middle of a run (inprocess mode), the run's own pod force-deleted (k8s-jobs mode) and the
Postgres pod deleted. A 1M-row bronze (bench.generate, seeded through the Tilt button's script) makes the silver
step last long enough to be caught in the middle; what the run after the fault must write comes from the
independent DuckDB reference. Runs after tests/test_cluster_deploy.py, on the release it leaves."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from dagster import DagsterRunStatus

from dagster_project.control.client import Webserver
from tests.support.cluster import ENV, UI_URL, USER_CODE, build_and_deploy, running_cluster, with_stand_ins
from tests.support.project import REPO_ROOT
from tests.support.runs import OUTPUTS, RUNS_IN_PROGRESS
from tests.support.stack import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]

# The bound, from the kill to the run's FAILURE.
DETECTION_SECONDS = 20
SAMPLE_DIR = REPO_ROOT / "data" / "bronze"
DETECTED: dict[str, float] = {}  # printed at the end of the module (the closing note's figures)


@pytest.fixture(scope="module")
def cluster():
    cluster = with_stand_ins(running_cluster())
    yield cluster
    print("\ncluster faults, seconds from the kill to the run's end: " + json.dumps(
        {k: round(v, 1) for k, v in DETECTED.items()}))  # fmt: skip


@pytest.fixture(scope="module")
def big_bronze_dir(big_bronze) -> tuple[Path, dict[str, str | None]]:
    """The big bronze alone in a folder (seed-bronze.sh copies a folder) and the reference's digests."""
    bronze, expected = big_bronze
    return bronze.parent, {name: _digest(content) for name, content in expected.items()}


def _digest(content: bytes | None) -> str | None:
    return hashlib.sha256(content).hexdigest() if content is not None else None


def on_pvc(name: str) -> str:
    return f"{ENV['DATA_ROOT']}/{name}"


class ClusterLongRun:
    """medallion_job on the big bronze, caught in its silver step, after a run on the sample set the scene."""

    def __init__(self, cluster, big_bronze_dir: tuple[Path, dict]):
        self.cluster, self.server = cluster, Webserver(UI_URL)
        bronze_dir, self.expected = big_bronze_dir
        cluster.seed_bronze(SAMPLE_DIR)
        self.succeed("medallion_job")
        self.before = self.files()
        cluster.seed_bronze(bronze_dir)
        self.run_id = self.server.submit("medallion_job")
        wait_for(self.in_silver, 300, "the silver step to start cleaning the big bronze", poll=0.2)

    def files(self) -> dict[str, str | None]:
        digests = self.cluster.digests([on_pvc(name) for name in OUTPUTS])
        return {name: digests[on_pvc(name)] for name in OUTPUTS}

    def in_silver(self) -> bool:
        messages = [(event["stepKey"], event["message"]) for event in self.server.events(self.run_id)]
        return any(step == "silver_orders" and text.startswith("cleaning ") for step, text in messages)

    def succeed(self, job: str) -> str:
        run_id = self.server.submit(job)
        status = self.server.wait(run_id, timeout=600)
        assert status == DagsterRunStatus.SUCCESS, self.errors(run_id)
        return run_id

    def errors(self, run_id: str | None = None) -> str:
        return "\n".join(e["message"][:500] for e in self.server.events(run_id or self.run_id) if e["level"] == "ERROR")

    def fails_soon_after(self, kill, figure: str, message: str) -> None:
        """`kill()` in the middle of the silver step fails the run within DETECTION_SECONDS, its error naming
        `message`; the time it took is kept under `figure`."""
        killed_at = time.monotonic()
        kill()
        status, ended_at = self.wait_for_end(timeout=300)
        DETECTED[figure] = ended_at - killed_at
        assert status == DagsterRunStatus.FAILURE, self.errors()
        assert message in self.errors(), self.errors()
        assert ended_at - killed_at <= DETECTION_SECONDS, f"FAILURE {ended_at - killed_at:.1f}s after the kill"

    def wait_for_end(self, timeout: float) -> tuple[DagsterRunStatus, float]:
        status = self.server.wait(self.run_id, timeout=timeout, poll=0.25)
        return status, time.monotonic()

    def check_files_after_fault(self) -> None:
        """Right after the fault every file is the previous one or a complete new one; after a new run, exactly
        what the reference computes, and no temporary file is left."""
        after_fault = self.files()
        self.succeed("medallion_job")
        final = self.files()
        assert final == self.expected, "the run after the fault did not write what the reference computes"
        for name in OUTPUTS:
            assert after_fault[name] in (self.before[name], final[name]), f"{name} was left half-written"
        # Run retries re-execute the failed run too: a temporary file of that live retry is not a leftover.
        wait_for(self.no_run_in_progress, 600, "every run (the automatic retry included) to end")
        assert self.cluster.temporary_files(ENV["DATA_ROOT"]) == [], "a temporary file was left behind"

    def no_run_in_progress(self) -> bool:
        return not self.server.graphql(RUNS_IN_PROGRESS, {})["runsOrError"]["results"]


def code_server_pod(cluster) -> dict:
    (pod,) = [
        p for p in cluster.pods(f"deployment={ENV['CODE_LOCATION']}") if not p["metadata"].get("deletionTimestamp")
    ]
    return pod


def test_code_server_pod_force_deleted_mid_run_fails_the_run_at_once(cluster, big_bronze_dir):
    """`kubectl delete pod --force --grace-period=0`: the API object goes at once, but the kubelet still stops the
    containers with SIGTERM and a 2 s grace, so the run worker sees the signal and fails the run itself."""
    build_and_deploy(cluster, "inprocess", tag="cluster-test-3")
    run = ClusterLongRun(cluster, big_bronze_dir)
    old_pod = code_server_pod(cluster)["metadata"]["name"]
    run.fails_soon_after(lambda: cluster.force_delete(old_pod), "code-server pod force-deleted (inprocess)",
                         "Execution was interrupted unexpectedly")  # fmt: skip
    wait_for(lambda: code_server_pod(cluster)["metadata"]["name"] != old_pod, 120, "the code-server pod's successor")
    wait_for(lambda: _ready(code_server_pod(cluster)), 180, "the new code-server pod to be Ready")
    run.check_files_after_fault()


def test_code_server_container_sigkilled_mid_run_fails_the_run_naming_the_lost_worker(cluster, big_bronze_dir):
    """SIGKILL with no SIGTERM first (the OOM killer, a node-level kill): nothing in the pod can report the run,
    the kubelet restarts the container, and the release_dead_runs guard in the new code server fails the run."""
    build_and_deploy(cluster, "inprocess", tag="cluster-test-3")
    run = ClusterLongRun(cluster, big_bronze_dir)
    pod = code_server_pod(cluster)
    restarts = pod["status"]["containerStatuses"][0]["restartCount"]
    run.fails_soon_after(lambda: cluster.sigkill_container(pod), "code-server container SIGKILLed (inprocess)",
                         "Run worker gone")  # fmt: skip
    again = code_server_pod(cluster)
    assert again["metadata"]["uid"] == pod["metadata"]["uid"], "the pod was replaced, not its container restarted"
    assert again["status"]["containerStatuses"][0]["restartCount"] == restarts + 1
    run.check_files_after_fault()


def _ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def test_postgres_pod_deleted_mid_run_the_run_ends_and_the_ui_answers_again(cluster, big_bronze_dir):
    import requests

    build_and_deploy(cluster, "inprocess", tag="cluster-test-3")
    run = ClusterLongRun(cluster, big_bronze_dir)
    (postgres,) = cluster.pods("app.kubernetes.io/name=postgres")
    killed_at = time.monotonic()
    cluster.kubectl("delete", "pod", postgres["metadata"]["name"], "--wait=false")
    # The webserver's first request on a storage may fail once after Postgres is back; the UI answers after.
    wait_for(lambda: _answers(requests), 300, "the UI to answer GraphQL again", poll=1)
    status, ended_at = run.wait_for_end(timeout=600)
    DETECTED[f"postgres pod deleted (inprocess), the run ended {status.value}"] = ended_at - killed_at
    assert status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE), status
    run.check_files_after_fault()


def _answers(requests) -> bool:
    try:
        reply = requests.post(f"{UI_URL}/graphql", json={"query": "{ runsOrError(limit: 1) { __typename } }"},
                              timeout=10)  # fmt: skip
        return reply.status_code == 200 and reply.json()["data"]["runsOrError"]["__typename"] == "Runs"
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return False


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        # The kubelet still stops the container with SIGTERM: the run worker reports its own interruption.
        ("force-delete", "Execution was interrupted unexpectedly"),
        # Nothing in the pod reports anything: Dagster's run monitoring sees the Job failed (every 5 s).
        ("sigkill", "Detected run worker status"),
    ],
)
def test_run_pod_killed_in_k8s_jobs_mode_fails_the_run(cluster, big_bronze_dir, fault, message):
    build_and_deploy(cluster, "k8s-jobs", tag="cluster-test-4")
    run = ClusterLongRun(cluster, big_bronze_dir)
    (pod,) = cluster.pods(f"job-name=dagster-run-{run.run_id}")
    kill = {"force-delete": lambda: cluster.force_delete(pod["metadata"]["name"]),
            "sigkill": lambda: cluster.sigkill_container(pod)}[fault]  # fmt: skip
    run.fails_soon_after(kill, f"run pod {fault} (k8s-jobs)", message)
    run.check_files_after_fault()


def test_back_to_inprocess_for_the_tests_after_these(cluster):
    build_and_deploy(cluster, "inprocess", tag="cluster-test-3")
    assert cluster.get("deployment", USER_CODE)["status"].get("readyReplicas") == 1
