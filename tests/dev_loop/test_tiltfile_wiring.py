"""The seams between the Tiltfile and what it runs, as the real Tilt loaded it (tests/support/tilt.py):

- every local_resource and button that runs a script under tilt/ or scripts/ hands it every environment
  variable the script requires (tests/support/shell_requirements.py reads them), with the value the Tiltfile means;
- every pod-side script gets the arguments it uses;
- buttons, the kind port-forward, links and build args are wired exactly to project.env and the manifests.

Runners are found by what they run, whatever their name, so resources and buttons added later are checked too.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.project import REPO_ROOT, UI_URL, USER_CODE_DEPLOYMENT, WEBSERVER_URL, load_project_env
from tests.support.shell_requirements import Needs, needs, scripts, sent_to_pods
from tests.support.tilt import Link, buttons, tiltfile_result
from tests.support.tilt_runners import in_user_code, pod_commands, runners

pytestmark = pytest.mark.tilt

ENV = load_project_env()
CASES = [("inprocess", "orbstack"), ("k8s-jobs", "docker-desktop"), ("inprocess", "kind-medallion")]


def meaning(variable: str, context: str) -> str | set[str] | Callable[[str], bool]:
    """What each variable a script reads stands for: the value, the values its script accepts, or a test."""
    meanings = {
        "KUBE_CONTEXT": context,  # the context Tilt deploys to (k8s_context()), not whatever is current later
        "USER_CODE_DEPLOYMENT": USER_CODE_DEPLOYMENT,  # the chart's Deployment of our code location
        "DAGSTER_URL": WEBSERVER_URL,  # the chart's webserver Service, as pods reach it
        "DAGSTER_UI_URL": UI_URL,  # the UI as the laptop's browser opens it, for the run links printed
        "ON_CONFLICT": {"keep", "replace"},  # tilt/seed-bronze-in-pod.sh refuses anything else
        "SEED_SOURCE": lambda value: (REPO_ROOT / value).is_dir(),  # a directory of bronze files to copy
    }
    assert variable in meanings, (
        f"a script reads {variable}, and {Path(__file__).name} does not know what it means: add it to meaning()"
    )
    return meanings[variable]


def fits(value: str, wanted) -> bool:
    if isinstance(wanted, set):
        return value in wanted
    return wanted(value) if callable(wanted) else value == wanted


def test_the_runners_are_found():
    """The search below finds today's runners; a search that found nothing would check nothing."""
    found = {(r.what, r.script.relative_to(REPO_ROOT).as_posix()) for r in runners("inprocess", "orbstack")}
    assert {
        ("local_resource 'smoke' cmd", "tilt/smoke.sh"),
        ("local_resource 'bronze-seed' cmd", "tilt/seed-bronze.sh"),
        ("local_resource 'pipeline' serve_cmd", "tilt/follow-pipeline-logs.sh"),
        ("button 'seed-bronze'", "tilt/seed-bronze.sh"),
        ("local_resource 'auto-refresh' cmd", "tilt/refresh.sh"),
        ("button 'refresh-stale'", "tilt/refresh.sh"),
    } <= found


@pytest.mark.parametrize(("mode", "context"), CASES)
def test_every_script_gets_the_variables_it_requires(mode, context):
    problems = []
    for runner in runners(mode, context):
        script = runner.script.relative_to(REPO_ROOT)
        need = needs(runner.script)
        missing = sorted(need.required - set(runner.env) - runner.inputs)
        if missing:
            problems.append(f"{runner.what} runs {script} without {', '.join(missing)}, which it requires")
        for variable in sorted((need.required | need.optional) & set(runner.env)):
            wanted, given = meaning(variable, context), runner.env[variable]
            if not fits(given, wanted):
                problems.append(f"{runner.what} gives {script} {variable}={given!r}, which should be {wanted!r}")
        for variable in sorted(need.required | need.optional):
            meaning(variable, context)  # every variable a runner may pass has a known meaning
    assert not problems, "\n".join(problems)


def test_every_host_script_is_run_by_the_tiltfile_or_documented_for_users():
    """A script nothing runs is dead or its runner was renamed away; pod-side halves are sent by host scripts."""
    run_by_tilt = {r.script for mode, context in CASES for r in runners(mode, context)}
    sent = {pod_script for script in scripts() for pod_script, _ in sent_to_pods(script)}
    docs = "".join(p.read_text() for p in [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").rglob("*.md")])
    for script in scripts():
        relative = script.relative_to(REPO_ROOT).as_posix()
        assert script in run_by_tilt | sent or relative in docs, f"{relative} is run by nothing and documented nowhere"


@pytest.mark.parametrize("script", [s for s in scripts() if sent_to_pods(s)], ids=lambda s: s.name)
def test_pod_side_scripts_get_the_arguments_they_use(script):
    for pod_script, arguments in sent_to_pods(script):
        used = needs(pod_script).positional
        assert len(arguments) == used, (
            f"{script.name} sends {pod_script.name} {len(arguments)} argument(s) {arguments}; it uses ${used}"
        )
        assert not needs(pod_script).required, f"{pod_script.name} reads variables the pod does not have"


def documented(script: Path) -> Needs:
    """The header comment's "From the Tiltfile: A, B. Optional: C (default)" line."""
    line = re.search(r"^# From the Tiltfile: (.*)$", script.read_text(), re.M)
    if not line:
        return Needs(frozenset(), frozenset(), 0)
    required, _, optional = line.group(1).partition("Optional:")
    names = lambda text: frozenset(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", text))  # noqa: E731
    return Needs(names(required), names(optional), 0)


@pytest.mark.parametrize("script", scripts(), ids=lambda s: s.name)
def test_script_headers_document_what_they_require(script):
    read, said = needs(script), documented(script)
    assert read.required == said.required, (
        f"{script.name} requires {sorted(read.required)}, says {sorted(said.required)}"
    )
    assert read.optional == said.optional, f"{script.name} reads {sorted(read.optional)}, says {sorted(said.optional)}"


# The reader of script requirements itself: each rule on a small script.
@pytest.mark.parametrize(
    ("text", "required", "optional", "positional"),
    [
        ('set -eu\n: "${A:?set it}"\necho "$B ${C:-x} ${D%/*}"\n', {"A", "B", "D"}, {"C"}, 0),
        ('echo "$B" "${A?}"\n', {"A"}, set(), 0),  # without set -u only ${A?} requires
        ('set -eu\nB=1\nfor C in x; do echo "$B $C $HOME"; done\nread -r D\necho "$D"\n', set(), set(), 0),
        ('set -eu\n. ./project.env\necho "$NAMESPACE $KUBE_CONTEXT"\n', {"KUBE_CONTEXT"}, set(), 0),
        ('set -eu\n# echo "$IN_A_COMMENT"\necho "$2 ${1:-}"\n', set(), set(), 2),
    ],
)
def test_requirements_are_read_from_the_script(tmp_path, text, required, optional, positional):
    script = tmp_path / "x.sh"
    script.write_text("#!/bin/sh\n" + text)
    assert needs(script) == Needs(frozenset(required), frozenset(optional), positional)


# -- buttons, forwards, links and build args, pinned -------------------------------------------------------


@pytest.mark.parametrize(("mode", "context"), CASES)
def test_show_outputs_runs_the_summary_with_heads_in_the_code_server_pod(mode, context):
    button = buttons(f"--run-mode={mode}", context=context)["show-outputs"]
    assert button.argv == [*in_user_code(context), "python", "-m", "dagster_project.summary", "--head", "5"]
    assert button.resource == "pipeline"


def nodeport_service(run) -> dict:
    (service,) = [o for o in run.k8s_objects if o["kind"] == "Service" and o["spec"].get("type") == "NodePort"]
    return service


def test_the_kind_forward_reaches_the_webserver_pods_the_node_port_service_selects():
    context = "kind-medallion"
    run = tiltfile_result(context=context)
    forward = run.resources["dagster-ui-forward"]
    service = nodeport_service(run)
    (port,) = service["spec"]["ports"]
    selector = ",".join(f"{key}={value}" for key, value in sorted(service["spec"]["selector"].items()))
    assert forward.serve_cmd == ["sh", "tilt/port-forward.sh", selector, f"{ENV['UI_NODE_PORT']}:{port['targetPort']}"]
    assert forward.serve_env["KUBE_CONTEXT"] == context
    assert service["metadata"]["namespace"] == ENV["NAMESPACE"] and port["nodePort"] == int(ENV["UI_NODE_PORT"])
    assert forward.links == [Link(UI_URL)] and forward.resource_deps == ["dagster"]


@pytest.mark.parametrize("context", ["orbstack", "docker-desktop"])
def test_no_forward_where_the_cluster_publishes_node_ports(context):
    assert "dagster-ui-forward" not in tiltfile_result(context=context).resources


def test_the_ui_links_point_at_the_node_port():
    run = tiltfile_result()
    assert run.resources["dagster"].links == [Link(UI_URL, "Dagster UI")]
    assert run.resources["dagster-ui"].links == [Link(UI_URL, "Dagster UI")]
    assert nodeport_service(run) in run.resources["dagster-ui"].objects


# -- commands run in the code-server pod -------------------------------------------------------------------

# Runs `python -m MODULE ARGS...` up to the end of its argparse parsing, and no further: a command line the
# module's CLI refuses exits 2 with argparse's message, one it accepts prints "parsed" and exits 0.
PARSE_ONLY = """
import argparse, runpy, sys

parse = argparse.ArgumentParser.parse_args
def parse_and_stop(self, args=None, namespace=None):
    print("parsed", vars(parse(self, args, namespace)))
    sys.exit(0)
argparse.ArgumentParser.parse_args = parse_and_stop
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def test_every_command_run_in_the_code_server_pod_is_one_its_module_accepts():
    commands = {}  # each distinct command once, whichever mode or context gave it
    for mode, context in CASES:
        for what, argv in pod_commands(mode, context):
            commands.setdefault(tuple(argv), f"{what} ({mode}, {context})")
    assert len(commands) >= 5, commands  # the run buttons, reload, show outputs, the reload step
    for argv, what in commands.items():
        env, words = {}, list(argv)
        if words[0] == "env":  # `env NAME=value ... COMMAND`
            words.pop(0)
            while "=" in words[0]:
                key, _, value = words.pop(0).partition("=")
                env[key] = value
        assert words[:2] == ["python", "-m"] and words[2].startswith("dagster_project."), f"{what}: {argv}"
        done = subprocess.run(
            [sys.executable, "-c", PARSE_ONLY, *words[2:]],
            cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0 and done.stdout.startswith("parsed"), (
            f"{what} runs `{shlex.join(words)}` in the pod, which its CLI refuses:\n{done.stderr}"
        )
