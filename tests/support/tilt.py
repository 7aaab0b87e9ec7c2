"""The project's Tiltfile as the real Tilt sees it (TILT_BIN, from .ci/setup-tilt.sh): `tilt alpha tiltfile-result`
for what it declares, and a short `tilt up` for the buttons and commands Tilt only creates under `up` and `ci`.
Both run against a kubeconfig whose context names the test chooses; its server is a closed port, so nothing
is ever deployed, and Tilt's own state goes to a temporary HOME."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from tests.support.cluster import Cluster, running_cluster, with_stand_ins
from tests.support.project import REPO_ROOT, load_project_env
from tests.support.stack import free_port
from tests.support.tools import require_tool

TILTFILE = REPO_ROOT / "Tiltfile"
TILT_MISSING = (
    "no tilt {version}: run .ci/setup-tilt.sh (builds it where Go and Node.js are installed), or put Tilt "
    "{version} on PATH"
)
EXTENSIONS_MISSING = (
    "no local copy of tilt-extensions (ext:// loads from GitHub): run .ci/setup-tilt.sh with TILT_EXTENSIONS_MIRROR "
    "set to a copy"
)
# Tilt's exit code for a Tiltfile that fails to load (as opposed to Tilt itself failing).
TILTFILE_FAILED = 5
# model.TriggerMode: whether a change updates the resource, and whether it starts with the session.
TRIGGER_MODES = {0: ("auto", True), 1: ("manual", True), 2: ("manual", False), 3: ("auto", False)}


class TiltfileError(Exception):
    """Tilt refused the Tiltfile; the message is what Tilt printed."""


def tilt_binary() -> str:
    version = load_project_env()["TILT_VERSION"]
    found = os.environ.get("TILT_BIN") or shutil.which("tilt")
    usable = bool(found) and subprocess.run([found, "version"], capture_output=True, text=True).stdout.startswith(
        f"v{version},"
    )
    require_tool("tilt", usable, TILT_MISSING.format(version=f"v{version}"))
    return found


def extensions_repo() -> str:
    found = os.environ.get("TILT_EXTENSIONS_REPO", "")
    require_tool("tilt-extensions", (Path(found) / "helm_resource" / "Tiltfile").is_file(), EXTENSIONS_MISSING)
    return found


def write_kubeconfig(path: Path, contexts: list[str], current: str) -> Path:
    """Contexts by name on one cluster whose API server is a closed port: Tilt reads the names, deploys nothing."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "nobody", "user": {"token": "no-cluster-here"}}],
        "contexts": [{"name": name, "context": {"cluster": "nowhere", "user": "nobody"}} for name in contexts],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def tilt_environment(home: Path, context: str, environ: dict[str, str] | None,
                     kubeconfig: str | None = None) -> dict[str, str]:  # fmt: skip
    """What Tilt runs with: the test's kubeconfig and HOME, the local extension repo, no user's Tilt settings.
    The chart comes from the default repository unless `environ` names one (DAGSTER_CHART). Without a
    `kubeconfig` (a real cluster's), the contexts lead nowhere."""
    home.mkdir(parents=True, exist_ok=True)
    if kubeconfig is None:
        kubeconfig = write_kubeconfig(home / "kubeconfig", sorted({context, "orbstack"}), context)
    ignored = ("TILT_PORT", "TILT_HOST", "DAGSTER_CHART", "PYTHON_IMAGE", "HELM_SKIP_SCHEMA_VALIDATION")
    env = {key: value for key, value in os.environ.items() if key not in ignored}
    # Tilt asks a first visitor about telemetry unless CI (or one of its other variables) is set: a CI runner sets
    # it and a developer's shell does not, so the tests set one, and the dashboard looks the same in both.
    return {**env, "HOME": str(home), "KUBECONFIG": str(kubeconfig), "TILT_EXTENSIONS_REPO": extensions_repo(),
            "TILT_DISABLE_ANALYTICS": "1", **(environ or {})}  # fmt: skip


@dataclass(frozen=True)
class Link:
    url: str
    name: str = ""


@dataclass
class Resource:
    """One manifest as Tilt loaded it."""

    name: str
    labels: list[str]
    resource_deps: list[str]
    links: list[Link]
    trigger: str  # "auto": a change to its deps updates it; "manual": only a click does
    auto_init: bool
    cmd: list[str] | None = None  # local_resource's cmd, with env and dir
    env: dict[str, str] = field(default_factory=dict)
    dir: str = ""
    serve_cmd: list[str] | None = None
    serve_env: dict[str, str] = field(default_factory=dict)
    serve_dir: str = ""
    deps: list[str] = field(default_factory=list)
    objects: list[dict] = field(default_factory=list)  # the Kubernetes objects it applies
    apply_cmd: list[str] | None = None  # k8s_custom_deploy (helm_resource): the command, env and dir
    apply_env: dict[str, str] = field(default_factory=dict)
    apply_dir: str = ""
    image_maps: list[str] = field(default_factory=list)  # images it deploys that Tilt builds
    apply_timeout_seconds: float = 0  # how long Tilt lets its apply run (update_settings' k8s_upsert_timeout_secs)


@dataclass
class Image:
    """A docker_build as Tilt loaded it, with its live_update steps."""

    name: str
    context: str
    dockerfile: str  # the Dockerfile's contents
    build_args: dict[str, str]
    network: str
    live_update: dict  # Tilt's LiveUpdateSpec: basePath, stopPaths (fall_back_on), syncs, execs (run)


@dataclass
class Button:
    """A UIButton and the Cmd its click starts."""

    name: str
    resource: str
    text: str
    icon: str
    argv: list[str]
    env: dict[str, str]
    dir: str
    inputs: list[dict]


@dataclass
class TiltRun:
    resources: dict[str, Resource]
    images: dict[str, Image]
    update_settings: dict
    buttons: dict[str, Button] = field(default_factory=dict)

    @property
    def k8s_objects(self) -> list[dict]:
        return [obj for resource in self.resources.values() for obj in resource.objects]


def pairs(entries: list[str] | None) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in entries or [])


def resource_from(manifest: dict) -> Resource:
    trigger, auto_init = TRIGGER_MODES[manifest["TriggerMode"]]
    target = manifest.get("DeployTarget") or {}
    links = [Link(_url(link["URL"]), link.get("Name", "")) for link in target.get("Links") or []]
    resource = Resource(
        name=manifest["Name"],
        labels=sorted(manifest.get("Labels") or {}),
        resource_deps=manifest.get("ResourceDependencies") or [],
        links=links,
        trigger=trigger,
        auto_init=auto_init,
    )
    if "UpdateCmdSpec" in target or "ServeCmd" in target:  # local_resource
        update = target.get("UpdateCmdSpec") or {}
        serve = target.get("ServeCmd") or {}
        resource.cmd, resource.env, resource.dir = update.get("args"), pairs(update.get("env")), update.get("dir", "")
        resource.serve_cmd, resource.serve_env = serve.get("Argv"), pairs(serve.get("Env"))
        resource.serve_dir = serve.get("Dir", "")
        resource.deps = target.get("Deps") or []
    else:  # k8s_yaml or k8s_custom_deploy
        resource.objects = [obj for obj in yaml.safe_load_all(target.get("yaml") or "") if obj]
        apply = target.get("applyCmd") or {}
        resource.apply_cmd, resource.apply_env = apply.get("args"), pairs(apply.get("env"))
        resource.apply_dir = apply.get("dir", "")
        resource.image_maps = target.get("imageMaps") or []
        resource.apply_timeout_seconds = _seconds(target.get("timeout", "0s"))
    return resource


def _seconds(duration: str) -> float:
    """A Go duration as Tilt prints it (5m0s, 1h0m0s, 30s) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(value) * units[unit] for value, unit in re.findall(r"([\d.]+)([hms])", duration))


def _url(url: dict) -> str:
    return f"{url['Scheme']}://{url['Host']}{url.get('Path', '')}"


def image_from(target: dict) -> Image:
    details = target.get("BuildDetails") or {}
    return Image(
        name=target["selector"],
        context=details.get("context", ""),
        dockerfile=details.get("dockerfileContents", ""),
        build_args=pairs(details.get("args")),
        network=details.get("network", ""),
        live_update=target.get("LiveUpdateSpec") or {},
    )


def run_from(result: dict) -> TiltRun:
    resources = {m["Name"]: resource_from(m) for m in result["Manifests"]}
    images = {t["selector"]: image_from(t) for m in result["Manifests"] for t in m.get("ImageTargets") or []}
    return TiltRun(resources=resources, images=images, update_settings=result.get("UpdateSettings") or {})


@dataclass
class HelmRelease:
    """What helm_resource hands its helper (helm-apply-helper.py, which runs `helm upgrade --install`)."""

    helper: str
    chart: str
    name: str
    namespace: str
    flags: list[str]
    image_keys: list[tuple[str, str]]  # (repository key, tag key) per image it injects


def helm_release(run: TiltRun, resource: str = "dagster") -> HelmRelease:
    deploy = run.resources[resource]
    interpreter, helper, *flags = deploy.apply_cmd
    assert interpreter == "python3", deploy.apply_cmd
    env = deploy.apply_env
    keys = [(env[f"TILT_IMAGE_KEY_REPO_{i}_0"], env[f"TILT_IMAGE_KEY_TAG_{i}_0"])
            for i in range(int(env["TILT_IMAGE_COUNT"]))]  # fmt: skip
    return HelmRelease(helper, env["CHART"], env["RELEASE_NAME"], env["NAMESPACE"], flags, keys)


@cache
def _tiltfile_result(args: tuple[str, ...], context: str, environ: tuple, tiltfile: Path) -> TiltRun | str:
    home = Path(tempfile.mkdtemp(prefix="tilt-home-"))
    try:
        done = subprocess.run(
            [tilt_binary(), "alpha", "tiltfile-result", "--file", str(tiltfile), "--", *args],
            cwd=tiltfile.parent, env=tilt_environment(home, context, dict(environ)),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if done.returncode == TILTFILE_FAILED:
        return done.stderr
    assert done.returncode == 0, f"tilt alpha tiltfile-result failed ({done.returncode}):\n{done.stderr}"
    return run_from(json.loads(done.stdout))


def tiltfile_result(*args: str, context: str = "orbstack", environ: dict[str, str] | None = None,
                    tiltfile: Path = TILTFILE) -> TiltRun:  # fmt: skip
    """What the Tiltfile declares, loaded by Tilt with these Tiltfile arguments against `context`. Raises
    TiltfileError with Tilt's message when Tilt refuses the Tiltfile."""
    loaded = _tiltfile_result(tuple(args), context, tuple(sorted((environ or {}).items())), tiltfile)
    if isinstance(loaded, str):
        raise TiltfileError(loaded)
    return loaded


class TiltUp:
    """`tilt up` on its own port and HOME until the Tiltfile has loaded; `get` reads Tilt's API objects."""

    def __init__(self, *args: str, context: str = "orbstack", environ: dict[str, str] | None = None,
                 tiltfile: Path = TILTFILE, workdir: Path | None = None, kubeconfig: str | None = None):  # fmt: skip
        self.home = workdir or Path(tempfile.mkdtemp(prefix="tilt-up-"))
        self.env = tilt_environment(self.home, context, environ, kubeconfig)
        self.port = free_port()
        self.log = self.home / "tilt-up.log"
        self.command = [tilt_binary(), "up", "--port", str(self.port), "--host", "127.0.0.1", "--stream",
                        "--file", str(tiltfile), "--", *args]  # fmt: skip
        self.cwd = tiltfile.parent
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> TiltUp:
        with self.log.open("w") as log:
            self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.wait_for_tiltfile()
        return self

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def tilt(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([tilt_binary(), *args, "--port", str(self.port)], env=self.env, cwd=self.cwd,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip

    def get(self, kind: str) -> list[dict]:
        done = self.tilt("get", kind, "-o", "json")
        assert done.returncode == 0, f"tilt get {kind}: {done.stderr}"
        return json.loads(done.stdout)["items"]

    def wait_for_tiltfile(self, timeout: float = 60) -> dict:
        """The (Tiltfile) object once its load finished; fails with Tilt's log if it failed or never ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"tilt up exited:\n{self.log.read_text()[-4000:]}"
            done = self.tilt("get", "tiltfile", "(Tiltfile)", "-o", "json", timeout=10)
            if done.returncode == 0:
                status = json.loads(done.stdout).get("status", {})
                if status.get("terminated"):
                    error = status["terminated"].get("error")
                    assert not error, f"the Tiltfile failed to load under tilt up: {error}"
                    return status
            time.sleep(0.3)
        raise AssertionError(f"the Tiltfile did not load within {timeout} s:\n{self.log.read_text()[-4000:]}")

    def buttons(self) -> dict[str, Button]:
        """Buttons that run a command (uibutton's cmd_button): Tilt's own stop/toggle buttons are left out."""
        commands = {c["metadata"]["name"]: c["spec"] for c in self.get("cmd")}
        found = {}
        for button in self.get("uibutton"):
            name = button["metadata"]["name"]
            command = commands.get(f"btn-{name}")
            if command is None:
                continue
            spec = button["spec"]
            found[name] = Button(
                name=name,
                resource=spec["location"]["componentID"],
                text=spec.get("text", ""),
                icon=spec.get("iconName", ""),
                argv=command["args"],
                env=pairs(command.get("env")),
                dir=command.get("dir", ""),
                inputs=spec.get("inputs") or [],
            )
        return found


@cache
def buttons(*args: str, context: str = "orbstack") -> dict[str, Button]:
    """The buttons `tilt up` shows with these Tiltfile arguments against `context` (one session, cached)."""
    with TiltUp(*args, context=context) as session:
        return session.buttons()


def tilt_ci(
    tiltfile: Path,
    *args: str,
    context: str = "orbstack",
    timeout: float = 180,
    environ: dict[str, str] | None = None,
    kubeconfig: str | None = None,
) -> subprocess.CompletedProcess:
    """`tilt ci` of `tiltfile` on its own port and HOME, to its end: exit code and everything it printed."""
    home = Path(tempfile.mkdtemp(prefix="tilt-ci-"))
    try:
        command = [tilt_binary(), "ci", "--port", str(free_port()), "--file", str(tiltfile), "--timeout",
                   f"{int(timeout)}s", "--", *args]  # fmt: skip
        return subprocess.run(command, cwd=tiltfile.parent, env=tilt_environment(home, context, environ, kubeconfig),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout + 30)  # fmt: skip
    finally:
        shutil.rmtree(home, ignore_errors=True)


def tilt_cluster() -> Cluster:
    """The test cluster with its stand-in images, for a module that runs Tilt on it; skips first, naming what is
    missing."""
    tilt_binary(), extensions_repo()
    return with_stand_ins(running_cluster())


def user_shell(cluster: Cluster) -> dict[str, str]:
    """The shell of a user whose cluster has what this machine lacks supplied (docs/deploy.md, stand-ins); Tilt
    gets the HOME and kubeconfig the session gives it."""
    return {key: value for key, value in cluster.env(**cluster.deploy_env).items()
            if key not in ("KUBECONFIG", "HOME")}  # fmt: skip
