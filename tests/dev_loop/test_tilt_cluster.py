"""The Tilt loop on the one-node test cluster, run by the real tilt: `tilt ci` from nothing to the smoke check in
both run modes, `tilt down` keeping the layers, then `tilt up` on a copy of the repository driven as a user
drives it (saves, a syntax error, a container restart, the port-forwards, the dashboard in Chromium).
The tests share one cluster and run in file order, after the deploy and fault tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from dagster_project.control.client import Webserver
from tests.support.cluster import ENV, UI_URL, USER_CODE
from tests.support.project import REPO_ROOT
from tests.support.tilt import tilt_binary, tilt_ci, tilt_cluster, tilt_environment, user_shell

pytestmark = [pytest.mark.cluster, pytest.mark.tilt, pytest.mark.timeout(2400)]

LAYER_PVCS = (ENV["BRONZE_PVC"], ENV["SILVER_PVC"], ENV["GOLD_PVC"])
GOLD = f"{ENV['DATA_ROOT']}/gold/gold_data.csv"
SILVER = f"{ENV['DATA_ROOT']}/silver/silver_data.csv"
FIGURES: dict[str, object] = {}  # printed at the end of the module (the closing note's and BENCHMARKS.md's figures)


@pytest.fixture(scope="module")
def cluster():
    yield tilt_cluster()
    print("\ntilt on the cluster: " + json.dumps(FIGURES))


def ci(cluster, *args: str, tiltfile: Path = REPO_ROOT / "Tiltfile") -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = tilt_ci(tiltfile, f"--allow-context={cluster.context}", *args, context=cluster.context, timeout=900,
                   environ=user_shell(cluster), kubeconfig=cluster.kubeconfig)  # fmt: skip
    return done, time.monotonic() - started


def pvc_uids(cluster) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in cluster.get("pvc")["items"]
            if p["status"]["phase"] == "Bound"}  # fmt: skip


def test_tilt_ci_from_nothing_passes_the_smoke_check(cluster):
    cluster.delete_namespace()
    done, seconds = ci(cluster)
    FIGURES["tilt ci inprocess from nothing (s)"] = round(seconds, 1)
    assert done.returncode == 0, done.stdout[-8000:]
    assert f"smoke check passed: medallion_job wrote {GOLD}" in done.stdout
    assert set(pvc_uids(cluster)) == {*LAYER_PVCS, "postgres-pvc"}
    (container,) = cluster.get("deployment", USER_CODE)["spec"]["template"]["spec"]["containers"]
    # Tilt found the registry the cluster announces (KEP-1755) and deployed its own tag from there.
    assert re.fullmatch(rf"{re.escape(cluster.registry)}/{ENV['IMAGE']}:tilt-[0-9a-f]+", container["image"])


def test_tilt_down_keeps_the_layers_and_tilt_ci_in_k8s_jobs_mode_reuses_them(cluster):
    kept_pvcs = pvc_uids(cluster)
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"tilt-down-{os.getpid()}"
    env = tilt_environment(home, cluster.context, user_shell(cluster), cluster.kubeconfig)
    down = subprocess.run([tilt_binary(), "down", "--file", str(REPO_ROOT / "Tiltfile"), "--",
                           f"--allow-context={cluster.context}"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    shutil.rmtree(home, ignore_errors=True)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not cluster.exists("deployment", USER_CODE) and not cluster.exists("deployment", "postgres")
    assert pvc_uids(cluster) == kept_pvcs

    done, seconds = ci(cluster, "--run-mode=k8s-jobs")
    FIGURES["tilt ci k8s-jobs on kept PVCs (s)"] = round(seconds, 1)
    assert done.returncode == 0, done.stdout[-8000:]
    assert "smoke check passed" in done.stdout
    assert pvc_uids(cluster) == kept_pvcs
    # The run was a Job from Tilt's image, and the history Postgres kept holds the inprocess run too.
    runs = Webserver(UI_URL).graphql("{ runsOrError { ... on Runs { results { runId tags { key value } } } } }", {})
    assert len(runs["runsOrError"]["results"]) >= 2
    assert cluster.get("jobs", "--selector", "app.kubernetes.io/component=run_worker")["items"]
