"""The one-node test cluster (.ci/cluster.sh; `make cluster-up` builds and starts it) as the cluster tests use it:
kubectl against its kubeconfig, the stand-in images its deploys need (.ci/build-images.sh), and
build-and-deploy.sh run the way a user runs it, with what this machine lacks (chart repository, registry,
Docker Hub) supplied by the documented settings. Tests using it skip, naming `make cluster-up`, when no cluster
runs."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tests.support.container_stack import python_image
from tests.support.project import REPO_ROOT, load_project_env, parse_env_lines
from tests.support.stack import wait_for
from tests.support.tools import require_tool

ENV = load_project_env()
NAMESPACE = ENV["NAMESPACE"]
USER_CODE = f"{ENV['HELM_RELEASE']}-dagster-user-deployments-{ENV['CODE_LOCATION']}"
UI_URL = f"http://localhost:{ENV['UI_NODE_PORT']}"
CLUSTER_MISSING = "no test cluster is running: `make cluster-up` builds (first time) and starts it"
CHART_MISSING = "DAGSTER_CHART is not set: .ci/setup-helm.sh provides the chart (DAGSTER_CHART_MIRROR offline)"


@dataclass
class Cluster:
    kubeconfig: str
    context: str
    registry: str
    deploy_env: dict[str, str] = field(default_factory=dict)  # the stand-in settings, once built

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a user's shell pointed at this cluster, helm and kubectl on PATH."""
        path = os.environ["PATH"]
        if os.environ.get("HELM_BIN"):
            path = f"{Path(os.environ['HELM_BIN']).parent}{os.pathsep}{path}"
        return {**os.environ, "KUBECONFIG": self.kubeconfig, "PATH": path, **extra}

    def kubectl(self, *args: str, namespace: str | None = NAMESPACE, check: bool = True, timeout: float = 120,
                input: bytes | None = None) -> subprocess.CompletedProcess:  # fmt: skip
        command = ["kubectl", "--context", self.context, *(["--namespace", namespace] if namespace else []), *args]
        done = subprocess.run(command, env=self.env(), capture_output=True, timeout=timeout, input=input)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{done.stderr.decode(errors='replace')}")
        return done

    def get(self, *what: str, namespace: str | None = NAMESPACE) -> dict:
        return json.loads(self.kubectl("get", *what, "-o", "json", namespace=namespace).stdout)

    def exists(self, *what: str, namespace: str | None = NAMESPACE) -> bool:
        return self.kubectl("get", *what, namespace=namespace, check=False).returncode == 0

    def read_file(self, path: str, target: str = f"deploy/{USER_CODE}") -> bytes | None:
        """A file on a layer PVC, read through a pod that mounts it; None when it does not exist."""
        done = self.kubectl("exec", target, "--", "sh", "-c", f'[ ! -e "{path}" ] || base64 "{path}"', timeout=300)
        return base64.b64decode(done.stdout) if done.stdout.strip() else None

    def digests(self, paths: list[str], target: str = f"deploy/{USER_CODE}") -> dict[str, str | None]:
        """sha256 of files on the layer PVCs, computed in a pod (a 1M-row silver stays on the cluster)."""
        script = 'for f in "$@"; do if [ -e "$f" ]; then sha256sum "$f"; else echo "- $f"; fi; done'
        done = self.kubectl("exec", target, "--", "sh", "-c", script, "digests", *paths, timeout=300)
        sums = dict(reversed(line.split(maxsplit=1)) for line in done.stdout.decode().splitlines())
        return {path: None if sums[path] == "-" else sums[path] for path in paths}

    def temporary_files(self, root: str, target: str = f"deploy/{USER_CODE}") -> list[str]:
        """Abandoned `.<name>.<pid>.….tmp` files the atomic writer left under `root`."""
        done = self.kubectl("exec", target, "--", "find", root, "-name", "*.tmp", timeout=120)
        return done.stdout.decode().split()

    def seed_bronze(self, source_dir: Path) -> str:
        """tilt/seed-bronze.sh (the Tilt button) copying `source_dir` onto the bronze PVC, replacing its file."""
        done = subprocess.run(
            [str(REPO_ROOT / "tilt/seed-bronze.sh")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
            env=self.env(KUBE_CONTEXT=self.context, USER_CODE_DEPLOYMENT=USER_CODE, SEED_SOURCE=str(source_dir),
                         ON_CONFLICT="replace"),
        )  # fmt: skip
        assert done.returncode == 0, f"seed-bronze.sh failed:\n{done.stdout}{done.stderr}"
        return done.stdout

    def force_delete(self, pod: str) -> None:
        """As a node loss or `kubectl delete pod --force` ends a pod: no grace period, the processes SIGKILLed."""
        self.kubectl("delete", "pod", pod, "--grace-period=0", "--force", "--wait=false")

    def sigkill_container(self, pod: dict) -> int:
        """SIGKILL every process of the pod's (only) container from the node, as the kernel's OOM killer ends
        a container: no SIGTERM first; the kubelet restarts it in the same pod. The test cluster's node is
        this machine, so its processes are found by the container id in their cgroup path."""
        require_tool("node-root", os.geteuid() == 0, "killing a container's processes needs root on the node")
        (status,) = pod["status"]["containerStatuses"]
        container_id = status["containerID"].split("://", 1)[1]
        killed = 0
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and container_id in (proc / "cgroup").read_text():
                    os.kill(int(proc.name), signal.SIGKILL)
                    killed += 1
            except (FileNotFoundError, ProcessLookupError):
                continue
        assert killed, f"no process of container {container_id} found on this node"
        return killed

    def delete_namespace(self, timeout: float = 300) -> None:
        """From nothing: the namespace, with the release's and the PVCs' objects (their volumes go too)."""
        if self.exists("namespace", NAMESPACE, namespace=None):
            self.kubectl("delete", "namespace", NAMESPACE, "--wait=true", f"--timeout={int(timeout)}s",
                         namespace=None, timeout=timeout + 30)  # fmt: skip
        wait_for(lambda: not self.get("pv", namespace=None)["items"], 120, "the released volumes to be deleted")

    def pods(self, selector: str) -> list[dict]:
        return self.get("pods", "--selector", selector)["items"]


@cache
def _running_cluster() -> Cluster | None:
    done = subprocess.run([str(REPO_ROOT / ".ci/cluster.sh"), "env"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return None
    values = parse_env_lines(done.stdout)
    return Cluster(kubeconfig=values["KUBECONFIG"], context=values["KUBE_CONTEXT"], registry=values["LOCAL_REGISTRY"])


def running_cluster() -> Cluster:
    cluster = _running_cluster()
    require_tool("cluster", cluster is not None, CLUSTER_MISSING)
    return cluster


def with_stand_ins(cluster: Cluster) -> Cluster:
    """The images no registry here serves, built under the project's names and pushed to the cluster's registry
    (a quick no-op when they are there), and the settings that make the deploy use them."""
    if not cluster.deploy_env:
        chart = os.environ.get("DAGSTER_CHART", "")
        require_tool("dagster-chart", bool(chart), CHART_MISSING)
        base = python_image()
        build = [str(REPO_ROOT / ".ci/build-images.sh")]
        done = subprocess.run(build, env=cluster.env(LOCAL_REGISTRY=cluster.registry, PYTHON_IMAGE=base),
                              capture_output=True, text=True, timeout=1800)  # fmt: skip
        assert done.returncode == 0, f".ci/build-images.sh failed:\n{done.stderr[-4000:]}"
        cluster.deploy_env = {
            **parse_env_lines(done.stdout),
            "DAGSTER_CHART": chart,
            # The chart's schema refers to definitions on GitHub, which this machine cannot reach.
            "HELM_SKIP_SCHEMA_VALIDATION": "true",
            "PYTHON_IMAGE": base,
            "DOCKER_BUILD_NETWORK": "host",
        }
    return cluster


@dataclass
class Deployed:
    output: str
    seconds: float
    tag: str


@cache
def _image_sources_digest() -> str:
    """What the image is built from (.dockerignore admits these): a tag that names it is never reused for
    other code, which the node (pull policy IfNotPresent) would not fetch again."""
    import hashlib

    digest = hashlib.sha256()
    files = ["Dockerfile", "pyproject.toml", "uv.lock", *sorted(str(p.relative_to(REPO_ROOT))
             for p in (REPO_ROOT / "dagster_project").rglob("*.py"))]  # fmt: skip
    for name in files:
        digest.update(name.encode() + b"\0" + (REPO_ROOT / name).read_bytes())
    return digest.hexdigest()[:10]


def build_and_deploy(cluster: Cluster, run_mode: str, tag: str, timeout: float = 1200) -> Deployed:
    """`./build-and-deploy.sh --run-mode MODE` as a user runs it, against the test cluster's context. `tag` gets
    the digest of the image's sources appended."""
    tag = f"{tag}-{_image_sources_digest()}"
    started = time.monotonic()
    done = subprocess.run(
        [str(REPO_ROOT / "build-and-deploy.sh"), "--run-mode", run_mode, "--tag", tag, "--context", cluster.context,
         "--allow-any-context"],
        cwd=REPO_ROOT, env=cluster.env(**cluster.deploy_env), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"build-and-deploy.sh --run-mode {run_mode} failed:\n{output[-6000:]}"
    return Deployed(output, time.monotonic() - started, tag)
