"""The live loop under `tilt up` on the one-node test cluster, driven as a user drives it, on a copy of the
repository: saves of the silver asset reach the code-server container by live update (no image build, the same
pod), the location serves the saved code, auto-refresh rebuilds the stale layers and gold on the PVC shows the
edit; a syntax error fails the live update visibly and keeps the last good code; the dashboard in Chromium; a
restarted container gets the saved code back; the debugger forward comes back after its pod is replaced.
bench/cluster_loop.py runs the first test with more saves (MEDALLION_SAVES) and reads MEDALLION_FIGURES."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from dagster_project.control.client import Webserver
from tests.support.cluster import ENV, UI_URL, USER_CODE
from tests.support.project import REPO_ROOT
from tests.support.stack import wait_for
from tests.support.tilt import TiltUp, tilt_cluster, user_shell

pytestmark = [pytest.mark.cluster, pytest.mark.tilt, pytest.mark.timeout(2400)]

GOLD = f"{ENV['DATA_ROOT']}/gold/gold_data.csv"
SILVER = f"{ENV['DATA_ROOT']}/silver/silver_data.csv"
LOOP_ANCHOR = "            for batch in bronze_batches(bronze):\n"
SAVES = int(os.environ.get("MEDALLION_SAVES", "3"))
FIGURES: dict[str, object] = {}  # printed at the end of the module
# One Tilt session per cluster at a time: the k8s-jobs test stops the module's inprocess session first.
SESSIONS: list[TiltUp] = []


@pytest.fixture(scope="module")
def cluster():
    yield tilt_cluster()
    print("\nlive loop on the cluster: " + json.dumps(FIGURES))


def repository_copy(destination: Path) -> Path:
    """The files a clone has (tracked and new, not ignored): what a user runs `tilt up` in."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def tilt_up(cluster, workdir: Path, *args: str) -> TiltUp:
    return TiltUp(f"--allow-context={cluster.context}", *args, context=cluster.context, environ=user_shell(cluster),
                  tiltfile=workdir / "Tiltfile", workdir=workdir.parent / f"{workdir.name}-tilt-home",
                  kubeconfig=cluster.kubeconfig)  # fmt: skip


def wait_ready(session: TiltUp, *resources: str, timeout: float = 900) -> None:
    for resource in resources:
        done = session.tilt("wait", "--for=condition=Ready", f"uiresource/{resource}", f"--timeout={int(timeout)}s",
                            timeout=timeout + 30)  # fmt: skip
        assert done.returncode == 0, f"{resource} not Ready: {done.stderr}\n{session.log.read_text()[-6000:]}"


def resource(session: TiltUp, name: str) -> dict:
    (found,) = [r for r in session.get("uiresource") if r["metadata"]["name"] == name]
    return found


def last_build(session: TiltUp, name: str) -> dict:
    history = resource(session, name)["status"].get("buildHistory") or [{}]
    return history[0]


def code_server(cluster) -> dict:
    pods = [p for p in cluster.pods(f"deployment={ENV['CODE_LOCATION']}") if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def identity(cluster) -> tuple[str, int, str]:
    """What an image build or a restart would change: the pod, its restarts and the image it runs."""
    pod = code_server(cluster)
    (status,) = pod["status"]["containerStatuses"]
    return pod["metadata"]["uid"], status["restartCount"], pod["spec"]["containers"][0]["image"]


def deployed_image(cluster) -> str:
    """The image the code-server Deployment's pods run (a rollout has two pods for a while)."""
    return cluster.get("deployment", USER_CODE)["spec"]["template"]["spec"]["containers"][0]["image"]


def served_versions(server: Webserver) -> set[str]:
    return {node["opVersion"] for node in server.assets() if node["isMaterializable"]}


def wait_until_changed(read, old: list, timeout: float, what: str) -> None:
    wait_for(lambda: read() not in old, timeout, what, poll=0.2)


def silver_edit(source: str, dropped: list[str]) -> str:
    """The silver asset with bronze rows of these order ids left out: silver loses them, gold's totals change."""
    indent = " " * 16
    drop = (f"{indent}import pyarrow as pa, pyarrow.compute as pc\n"
            f"{indent}left_out = pc.is_in(batch['order_id'], value_set=pa.array({dropped!r}))\n"
            f"{indent}batch = batch.filter(pc.invert(left_out))\n")  # fmt: skip
    return source.replace(LOOP_ANCHOR, LOOP_ANCHOR + drop, 1)


def droppable_orders(silver: str) -> list[str]:
    """Order ids the sample's bronze holds once, on a row silver keeps: leaving one out always changes gold."""
    bronze = (REPO_ROOT / "data" / "bronze" / "bronze_data.csv").read_text()
    kept = [line.split(",", 1)[0] for line in silver.splitlines()[1:]]
    return [order for order in kept if bronze.count(f"{order},") == 1]


@pytest.fixture(scope="module")
def loop(cluster, tmp_path_factory):
    workdir = repository_copy(tmp_path_factory.mktemp("repo"))
    started = time.monotonic()
    with tilt_up(cluster, workdir) as session:
        SESSIONS.append(session)
        wait_ready(session, "dagster", "bronze-seed", "pipeline", "debugger-forward")
        # Coming from k8s-jobs mode, the upgrade rolls the webserver and daemon too.
        for deployment in ("dagster-dagster-webserver", "dagster-daemon", USER_CODE):
            cluster.kubectl("rollout", "status", f"deployment/{deployment}", "--timeout=300s", timeout=330)
        FIGURES["tilt up -> dagster, seed, forwards Ready (s)"] = round(time.monotonic() - started, 1)
        yield session, workdir


def test_saves_reach_the_pod_by_live_update_and_gold_shows_each(cluster, loop):
    session, workdir = loop
    server = Webserver(UI_URL)
    submits = []
    for _ in range(SAVES):
        started = time.monotonic()
        assert server.wait(server.submit("medallion_job"), timeout=600).value == "SUCCESS"
        submits.append(time.monotonic() - started)
    before = identity(cluster)
    silver_file = workdir / "dagster_project" / "defs" / "assets" / "silver.py"
    original = silver_file.read_text()
    to_reloaded, to_gold = [], []
    candidates = droppable_orders(cluster.read_file(SILVER).decode())
    for dropped in range(1, SAVES + 1):
        versions, gold = served_versions(server), cluster.digests([GOLD])[GOLD]
        saved = time.monotonic()
        silver_file.write_text(silver_edit(original, candidates[:dropped]))
        wait_until_changed(lambda: served_versions(server), [versions], 120, "the location to serve the saved code")
        to_reloaded.append(time.monotonic() - saved)
        wait_until_changed(lambda: cluster.digests([GOLD])[GOLD], [gold, None], 300, "auto-refresh to write gold")
        to_gold.append(time.monotonic() - saved)
        silver = cluster.read_file(SILVER).decode()
        assert not [order for order in candidates[:dropped] if f"\n{order}," in silver], "silver still has them"
        build = last_build(session, "dagster")
        assert not build.get("error"), build
    # Live updates only: no image build, no new pod, no restart.
    assert identity(cluster) == before
    assert "refreshing gold_region_sales, silver_orders" in session.tilt("logs", "auto-refresh").stdout
    FIGURES["save -> location serves the saved code (s), median"] = round(statistics.median(to_reloaded), 2)
    FIGURES["save -> fresh gold on the PVC (s), median"] = round(statistics.median(to_gold), 2)
    FIGURES["saves"] = [[round(a, 2), round(b, 2)] for a, b in zip(to_reloaded, to_gold, strict=True)]
    FIGURES["submit -> SUCCESS through the NodePort (s), median"] = round(statistics.median(submits), 2)
    if os.environ.get("MEDALLION_FIGURES"):
        series = {"submit": submits, "reloaded": to_reloaded, "gold": to_gold}
        Path(os.environ["MEDALLION_FIGURES"]).write_text(json.dumps(series))


def test_a_syntax_error_fails_the_live_update_visibly_and_keeps_the_last_good_code(cluster, loop):
    session, workdir = loop
    server = Webserver(UI_URL)
    silver_file = workdir / "dagster_project" / "defs" / "assets" / "silver.py"
    good = silver_file.read_text()
    versions, before = served_versions(server), identity(cluster)
    silver_file.write_text(good + "\ndef broken(:\n")
    wait_for(lambda: "SyntaxError" in session.tilt("logs", "dagster").stdout, 120,
             "the live update's SyntaxError in the dagster resource's log")  # fmt: skip
    wait_for(lambda: last_build(session, "dagster").get("error"), 60, "the dagster resource to show a failed update")
    assert server.load_error() is None
    assert served_versions(server) == versions
    silver_file.write_text(good.replace(LOOP_ANCHOR, f"{LOOP_ANCHOR}                pass\n", 1))
    wait_for(lambda: not last_build(session, "dagster").get("error"), 120, "the next good save to update cleanly")
    assert server.load_error() is None
    assert identity(cluster) == before, "the recovery restarted or replaced the pod"


@pytest.fixture(scope="module")
def dashboard(loop):
    """Tilt's dashboard, served by the tilt binary itself, in Chromium."""
    from tests.support import browser

    binary = browser.require_browser()
    from playwright.sync_api import sync_playwright

    session, workdir = loop
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, args=browser.CHROMIUM_ARGS)
        try:
            page = launched.new_page(viewport=browser.VIEWPORT)
            page.set_default_timeout(browser.UI_TIMEOUT_MS)
            yield page, f"http://127.0.0.1:{session.port}", browser.screenshot_dir(workdir / "screenshots")
        finally:
            launched.close()


RESOURCES_BY_LABEL = {
    "storage": ["storage", "postgres", "bronze-seed"],
    "dagster": ["dagster-ui", "dagster"],
    "pipeline": ["pipeline", "debugger-forward", "auto-refresh"],
    "tools": ["smoke"],
}


def test_the_dashboard_shows_every_resource_under_its_label(dashboard):
    from playwright.sync_api import expect

    page, base, shots = dashboard
    page.goto(f"{base}/overview")
    for label, names in RESOURCES_BY_LABEL.items():
        group = page.get_by_role("region", name=f"{label} Status summary for {label} group", exact=True)
        for name in names:
            expect(group.get_by_role("button", name=name, exact=True)).to_be_visible()
    # Every resource that has run is healthy: the summary reads "Resources N/N" (auto-refresh counts once it ran).
    summary = page.get_by_role("complementary", name="Status summary for all resources")
    expect(summary).to_have_text(re.compile(r"Resources\s*(\d+)\s*/\s*\1\s*$"))
    page.screenshot(path=shots / "tilt-dashboard-overview.png")


def click_pipeline_button(page, base: str, session: TiltUp, name: str) -> str:
    """Click a button of the pipeline resource; the id of the run its command printed in the resource's log."""
    before = len(session.tilt("logs", "pipeline").stdout)
    page.goto(f"{base}/r/pipeline/overview")
    page.get_by_role("button", name=re.compile(rf"^(Trigger )?{name}$")).click()
    pattern = re.compile(r"run ([0-9a-f-]{36}): ")
    found = wait_for(lambda: pattern.findall(session.tilt("logs", "pipeline").stdout[before:]), 120,
                     f"the {name} button's command to print the run it launched")  # fmt: skip
    return found[-1]


def test_the_run_button_launches_a_run_whose_debug_lines_show_in_the_pipeline_log(dashboard, loop):
    from playwright.sync_api import expect

    page, base, shots = dashboard
    session, _ = loop
    run_id = click_pipeline_button(page, base, session, "Run medallion_job")
    assert Webserver(UI_URL).wait(run_id, timeout=600).value == "SUCCESS"
    # The silver step's DEBUG lines of that run, in the resource's log pane.
    line = re.compile(rf"{run_id[:8]}.*silver_orders.*cleaned \d+ bronze rows so far")
    expect(page.get_by_text(line).first).to_be_visible()
    page.screenshot(path=shots / "tilt-dashboard-pipeline-run.png")


def test_the_dagster_ui_link_opens_the_ui(dashboard):
    from playwright.sync_api import expect

    page, base, _ = dashboard
    page.goto(f"{base}/r/dagster/overview")
    link = page.get_by_role("link", name="Dagster UI").first
    assert link.get_attribute("href").rstrip("/") == UI_URL
    with page.context.expect_page() as opened:
        link.click()
    ui = opened.value
    ui.wait_for_load_state()
    expect(ui).to_have_title(re.compile("Dagster"))
    ui.close()


def breakpoint_line(silver_file: Path) -> int:
    """The line of the silver step that hands a bronze batch to the rules (cleaner.clean_batch)."""
    import ast

    tree = ast.parse(silver_file.read_text())
    assigned = [node for node in ast.walk(tree) if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)]
    return next(node.lineno for node in assigned if getattr(node.value.func, "attr", None) == "clean_batch")


def test_the_debug_button_run_stops_at_a_breakpoint_through_the_forwarded_port(dashboard, loop):
    page, base, _ = dashboard
    session, workdir = loop
    server = Webserver(UI_URL)
    run_id = click_pipeline_button(page, base, session, "Debug medallion_job")
    wait_for(lambda: waiting_for_debugger(server, run_id), 180, "the run to wait for a debugger")
    attach_and_stop_in_silver(server, run_id, workdir)


def waiting_for_debugger(server: Webserver, run_id: str) -> bool:
    return any("waiting up to" in event["message"] for event in server.events(run_id))


def attach_and_stop_in_silver(server: Webserver, run_id: str, workdir: Path) -> None:
    """VS Code's "Attach to Dagster run" (.vscode/launch.json) on a run waiting for a debugger at DEBUG_PORT on
    this machine: the breakpoint in the silver step is verified and hit, the pod's /opt/dagster/app file shows as
    this checkout's (launch.json's path mapping works), the step's locals read right; then the run succeeds."""
    from tests.support.dap_client import DapClient

    silver_file = workdir / "dagster_project" / "defs" / "assets" / "silver.py"
    line = breakpoint_line(silver_file)
    configurations = json.loads((workdir / ".vscode" / "launch.json").read_text())["configurations"]
    (config,) = [c for c in configurations if c["name"] == "Attach to Dagster run"]
    config = json.loads(json.dumps(config).replace("${workspaceFolder}", str(workdir)))
    client = DapClient("127.0.0.1", int(ENV["DEBUG_PORT"]))
    try:
        answered = client.attach(config, {str(silver_file): [line]})
        assert [b["verified"] for b in answered[str(silver_file)]] == [True], answered
        stopped = client.wait_event("stopped", timeout=180)
        assert stopped["reason"] == "breakpoint", stopped
        (top, *_) = client.request("stackTrace", threadId=stopped["threadId"])["stackFrames"]
        assert (Path(top["source"]["path"]), top["line"]) == (silver_file, line), top
        assert client.evaluate("storage.root", top["id"]) == repr(ENV["DATA_ROOT"])
        client.request("continue", threadId=stopped["threadId"])
        assert server.wait(run_id, timeout=300).value == "SUCCESS"
    finally:
        client.close()


def test_a_restarted_code_server_container_gets_the_saved_code_back(cluster, loop):
    """A container restart starts from the image, without the files Tilt synced: Tilt must put them back."""
    session, workdir = loop
    server = Webserver(UI_URL)
    silver_file = workdir / "dagster_project" / "defs" / "assets" / "silver.py"
    marker = f"restart-check-{int(time.time())}"
    versions = served_versions(server)
    silver_file.write_text(
        silver_file.read_text().replace(LOOP_ANCHOR, f"{LOOP_ANCHOR}                '{marker}'\n", 1)
    )
    in_pod = f"{ENV['APP_DIR']}/dagster_project/defs/assets/silver.py"
    wait_for(lambda: marker.encode() in (cluster.read_file(in_pod) or b""), 120, "the save to reach the pod")
    wait_until_changed(lambda: served_versions(server), [versions], 120, "the location to serve the save")
    saved_versions = served_versions(server)
    uid, restarts, _ = identity(cluster)
    killed_at = time.monotonic()
    cluster.sigkill_container(code_server(cluster))

    def restarted() -> bool:
        pods = cluster.pods(f"deployment={ENV['CODE_LOCATION']}")
        return any(p["metadata"]["uid"] != uid or p["status"]["containerStatuses"][0]["restartCount"] > restarts
                   for p in pods)  # fmt: skip

    def served_again() -> bool:
        try:
            return server.load_error() is None and served_versions(server) == saved_versions
        except Exception:  # the webserver may not reach the code server for a while
            return False

    wait_for(restarted, 60, "the container to restart")
    wait_for(served_again, 300, "the location to serve the saved code again after the restart", poll=1)
    FIGURES["container SIGKILL -> saved code served again (s)"] = round(time.monotonic() - killed_at, 1)
    on_disk = cluster.read_file(in_pod) or b""
    assert marker.encode() in on_disk
    # What Tilt does (measured here): it sees the new container and copies the files changed since `tilt up`
    # into it again, with no image build and no new pod; the reload step then waits for the code server.
    assert "Detected container restart" in session.tilt("logs", "dagster").stdout
    assert identity(cluster)[0] == uid
    assert not last_build(session, "dagster").get("error"), last_build(session, "dagster")


def test_the_debugger_forward_comes_back_after_its_pod_is_replaced(cluster, loop):
    import socket

    session, _ = loop
    port = int(ENV["DEBUG_PORT"])
    old = code_server(cluster)["metadata"]["name"]
    cluster.kubectl("delete", "pod", old, "--wait=false")
    wait_for(lambda: code_server(cluster)["metadata"]["name"] != old, 120, "the new code-server pod")
    new = code_server(cluster)["metadata"]["name"]
    replaced_at = time.monotonic()

    def forwarding() -> bool:
        log = session.tilt("logs", "debugger-forward").stdout
        return f"port-forward: {port}:{port} to pod {new}" in log and _listening(socket, port)

    wait_for(forwarding, 180, f"the debugger forward to follow the new pod {new}", poll=0.5)
    FIGURES["pod replaced -> debugger forward on the new pod (s)"] = round(time.monotonic() - replaced_at, 1)


def _listening(socket, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_k8s_jobs_mode_a_save_rebuilds_the_image_and_the_next_run_pod_runs_it(cluster, tmp_path):
    # The inprocess session above would keep its forwards (the debug port) and deploy its own mode.
    for earlier in SESSIONS:
        earlier.__exit__(None, None, None)
    workdir = repository_copy(tmp_path / "repo")
    with tilt_up(cluster, workdir, "--run-mode=k8s-jobs") as session:
        wait_ready(session, "dagster")
        image_before = deployed_image(cluster)
        silver_file = workdir / "dagster_project" / "defs" / "assets" / "silver.py"
        saved = time.monotonic()
        dropped = droppable_orders(cluster.read_file(SILVER).decode())[:1]
        silver_file.write_text(silver_edit(silver_file.read_text(), dropped))
        wait_for(lambda: deployed_image(cluster) != image_before, 600, "Tilt to build and deploy a new image", poll=1)
        cluster.kubectl("rollout", "status", f"deployment/{USER_CODE}", "--timeout=300s", timeout=330)
        wait_ready(session, "dagster")
        FIGURES["k8s-jobs: save -> new image deployed (s)"] = round(time.monotonic() - saved, 1)
        image_after = deployed_image(cluster)
        assert re.fullmatch(rf"{re.escape(cluster.registry)}/{ENV['IMAGE']}:tilt-[0-9a-f]+", image_after)
        server = Webserver(UI_URL)
        # Run pods start from the image the webserver's code location reports, which follows the new code server
        # some seconds after the rollout (docs/dev-loop.md); the Reload code location button makes it now.
        server.reload(unreachable_for=120)
        run_id = server.submit("medallion_job")
        assert server.wait(run_id, timeout=600).value == "SUCCESS"
        (job_pod,) = cluster.pods(f"job-name=dagster-run-{run_id}")
        assert job_pod["spec"]["containers"][0]["image"] == image_after
        assert f"\n{dropped[0]}," not in cluster.read_file(SILVER).decode()
        debug_a_run_pod(cluster, server, workdir)


def debug_a_run_pod(cluster, server: Webserver, workdir: Path) -> None:
    """docs/debugging.md's k8s-jobs path: a debug run's own pod waits for VS Code; forward to it by run id."""
    port = ENV["DEBUG_PORT"]
    run_id = server.submit("medallion_job", tags={"medallion/debug": "true"})
    wait_for(lambda: waiting_for_debugger(server, run_id), 300, "the run pod to wait for a debugger")
    command = ["kubectl", "--context", cluster.context, "--namespace", ENV["NAMESPACE"], "port-forward",
               f"job/dagster-run-{run_id}", f"{port}:{port}"]  # fmt: skip
    forward = subprocess.Popen(command, env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "Forwarding from" in forward.stdout.readline()
        attach_and_stop_in_silver(server, run_id, workdir)
    finally:
        forward.terminate()
        forward.wait(timeout=30)
