"""The Tiltfile's half of debug runs, as the real Tilt loads it (tests/support/tilt.py): the
*Debug medallion_job* button launches a tagged run, inprocess mode forwards the debug port from the code-server
deployment to localhost only, and no Service or node port ever carries it."""

from __future__ import annotations

import pytest

from tests.support.project import RUN_MODES, UI_URL, load_project_env
from tests.support.tilt import buttons, tiltfile_result
from tests.support.tilt_runners import CONTROL, in_user_code

pytestmark = pytest.mark.tilt

ENV = load_project_env()
PORT = ENV["DEBUG_PORT"]


@pytest.mark.parametrize("mode", RUN_MODES)
def test_the_debug_button_submits_medallion_job_with_the_debug_flag(mode):
    from dagster_project.definitions import defs

    defs.resolve_job_def("medallion_job")
    button = buttons(f"--run-mode={mode}")["debug-medallion_job"]
    assert (button.resource, button.text, button.icon) == ("pipeline", "Debug medallion_job", "bug_report")
    assert button.argv == [
        *in_user_code(), "env", f"DAGSTER_UI_URL={UI_URL}", *CONTROL, "submit", "medallion_job", "--debug",
    ]  # fmt: skip


@pytest.mark.parametrize("context", ["orbstack", "kind-medallion"])
def test_inprocess_forwards_the_debug_port_from_the_code_server_to_localhost(context):
    forward = tiltfile_result("--run-mode=inprocess", context=context).resources["debugger-forward"]
    assert forward.resource_deps == ["dagster"] and forward.labels == ["pipeline"]
    # The pods of the code-server Deployment, followed across replacements (tilt/port-forward.sh; the forward
    # coming back after its pod is deleted is checked on the test cluster, tests/dev_loop/test_tilt_loop_cluster.py).
    selector = f"app.kubernetes.io/instance={ENV['HELM_RELEASE']},deployment={ENV['CODE_LOCATION']}"
    assert forward.serve_cmd == ["sh", "tilt/port-forward.sh", selector, f"{PORT}:{PORT}"]
    assert forward.serve_env["KUBE_CONTEXT"] == context


def test_k8s_jobs_mode_has_no_standing_forward():
    """Each run is its own pod there; docs/debugging.md gives the one command that forwards to it."""
    assert "debugger-forward" not in tiltfile_result("--run-mode=k8s-jobs").resources


@pytest.mark.parametrize("mode", RUN_MODES)
def test_no_applied_object_publishes_the_debug_port(mode):
    ports = [
        port
        for obj in tiltfile_result(f"--run-mode={mode}").k8s_objects
        if obj["kind"] == "Service"
        for port in obj["spec"].get("ports", [])
    ]
    assert ports, "the Tiltfile applies no Service: this check would pass for nothing"
    assert not [p for p in ports if str(PORT) in (str(p.get("port")), str(p.get("targetPort")), str(p.get("nodePort")))]
