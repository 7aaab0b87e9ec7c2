"""The names the Tiltfile derives from project.env agree with what the real chart renders: the chart is
rendered by a real helm with the Tiltfile's own flags plus the image the way helm_resource injects it
(--set <repository key>=<repo> --set <tag key>=<tag>). Needs HELM_BIN (or helm on PATH) and DAGSTER_CHART
(a packaged dagster chart); .ci/setup-helm.sh provides both."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.helm import CHART_MISSING, HELM_MISSING
from tests.support.project import REPO_ROOT, load_project_env
from tests.support.tilt import buttons, helm_release, tiltfile_result
from tests.support.tilt_runners import runners
from tests.support.tools import require_tool

pytestmark = [pytest.mark.helm, pytest.mark.tilt]

TILT_IMAGE = "dagster-repo:tilt-0123456789abcdef"  # the form of the refs Tilt deploys


def helm_and_chart() -> tuple[str, str]:
    helm = os.environ.get("HELM_BIN") or shutil.which("helm")
    chart = os.environ.get("DAGSTER_CHART")
    require_tool("helm", bool(helm), HELM_MISSING)
    require_tool("dagster-chart", bool(chart), CHART_MISSING)
    return helm, chart


def tiltfile(mode: str):
    return tiltfile_result(f"--run-mode={mode}")


@cache
def rendered(mode: str) -> dict[tuple[str, str], dict]:
    helm, chart = helm_and_chart()
    # What the Tiltfile hands helm_resource when DAGSTER_CHART names the local chart, as on the test cluster.
    release = helm_release(tiltfile_result(f"--run-mode={mode}", environ={"DAGSTER_CHART": chart}))
    assert release.chart == os.path.abspath(chart)
    shown = subprocess.run([helm, "show", "chart", chart], capture_output=True, text=True, check=True)
    version = load_project_env()["DAGSTER_CHART_VERSION"]
    assert str(yaml.safe_load(shown.stdout)["version"]) == version, "DAGSTER_CHART is not the pinned chart"
    # The schema's remote references cannot be fetched offline.
    flags = [*release.flags, "--skip-schema-validation"]
    (image_key,) = release.image_keys
    repository, tag = TILT_IMAGE.rsplit(":", 1)
    for key, value in zip(image_key, (repository, tag), strict=True):
        flags += ["--set", f"{key}={value}"]
    command = [helm, "template", release.name, release.chart, "--namespace", release.namespace, *flags]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


@pytest.fixture(params=["inprocess", "k8s-jobs"])
def mode(request) -> str:
    return request.param


def user_code_deployment(mode: str) -> dict:
    argv = buttons(f"--run-mode={mode}")["reload-code"].argv
    target = next(word for word in argv if word.startswith("deploy/")).removeprefix("deploy/")
    return rendered(mode)[("Deployment", target)]


def test_reload_url_is_the_charts_webserver_service(mode):
    (reload,) = tiltfile("inprocess").images["dagster-repo"].live_update["execs"]
    run_step = reload["args"][-1].split()
    url = urlsplit(run_step[run_step.index("--url") + 1])
    service_name, namespace, _ = url.hostname.split(".", 2)
    assert namespace == helm_release(tiltfile(mode)).namespace
    service = rendered(mode)[("Service", service_name)]
    assert url.port in [p["port"] for p in service["spec"]["ports"]]


def test_exec_target_runs_the_injected_image_with_the_pvcs(mode):
    (container,) = user_code_deployment(mode)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == TILT_IMAGE
    # Run pods in k8s-jobs mode start from the code location's image: Tilt's new tag reaches them.
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env["DAGSTER_CURRENT_IMAGE"] == TILT_IMAGE
    # Buttons and the smoke check read outputs through this pod.
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert mounts["/data/silver"] is False and mounts["/data/gold"] is False and mounts["/data/bronze"] is True


def test_pipeline_pane_selects_the_code_server_pod():
    selector = tiltfile("inprocess").resources["pipeline"].serve_cmd[-1]
    wanted = dict(pair.split("=", 1) for pair in selector.split(","))
    labels = user_code_deployment("inprocess")["spec"]["template"]["metadata"]["labels"]
    assert wanted.items() <= labels.items()


def test_ui_node_port_selects_the_webserver_pods(mode):
    nodeport = next(o for o in tiltfile(mode).k8s_objects if o.get("spec", {}).get("type") == "NodePort")
    selector = nodeport["spec"]["selector"].items()
    deployments = [o for (kind, _), o in rendered(mode).items() if kind == "Deployment"]
    (webserver,) = [d for d in deployments if selector <= d["spec"]["template"]["metadata"]["labels"].items()]
    ports = [p["containerPort"] for c in webserver["spec"]["template"]["spec"]["containers"] for p in c["ports"]]
    assert nodeport["spec"]["ports"][0]["targetPort"] in ports


def test_what_the_scripts_are_given_names_the_charts_objects(mode):
    """USER_CODE_DEPLOYMENT and DAGSTER_URL, wherever the Tiltfile hands them to a script, name a Deployment
    and a Service port the chart really renders (in the release's namespace)."""
    objects = rendered(mode)
    namespace = helm_release(tiltfile(mode)).namespace
    given = [r for r in runners(mode, "orbstack") if {"USER_CODE_DEPLOYMENT", "DAGSTER_URL"} & set(r.env)]
    assert given
    for runner in given:
        if "USER_CODE_DEPLOYMENT" in runner.env:
            assert ("Deployment", runner.env["USER_CODE_DEPLOYMENT"]) in objects, runner.what
        if "DAGSTER_URL" in runner.env:
            url = urlsplit(runner.env["DAGSTER_URL"])
            service_name = url.hostname.split(".")[0]
            assert url.hostname.split(".")[1] == namespace, runner.what
            assert url.port in [p["port"] for p in objects[("Service", service_name)]["spec"]["ports"]], runner.what
