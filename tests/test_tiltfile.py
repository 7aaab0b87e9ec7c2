"""The Tiltfile, evaluated by starlark-pyo3 against a Tilt API with Tilt's own signatures
(tests/tilt_api_stub.py), in both run modes and for the kube contexts it must accept or refuse."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests._project import load_project_env
from tests.tilt_api_stub import Link, TiltfileError, evaluate

REPO = Path(__file__).resolve().parents[1]
TILTFILE = REPO / "Tiltfile"
RUN_MODES = ("inprocess", "k8s-jobs")
LABELS = {"storage", "dagster", "pipeline", "tools"}
JOBS = ("bronze_to_silver_job", "silver_to_gold_job", "medallion_job")


ENV = load_project_env()
WEBSERVER_URL = f"http://{ENV['HELM_RELEASE']}-dagster-webserver.{ENV['NAMESPACE']}.svc:80"
USER_CODE = f"{ENV['HELM_RELEASE']}-dagster-user-deployments-{ENV['CODE_LOCATION']}"
UI_URL = f"http://localhost:{ENV['UI_NODE_PORT']}"


def tilt(*args: str, context: str = "orbstack", subcommand: str = "up", environ: dict | None = None):
    return evaluate(TILTFILE, args=args, context=context, subcommand=subcommand, environ=environ)


@pytest.fixture(scope="module", params=RUN_MODES)
def mode(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def run(mode):
    return tilt(f"--run-mode={mode}")


def dockerfile_paths() -> dict[str, str]:
    """APP_DIR, WORKDIR and where `COPY dagster_project` lands, with ${VAR} expanded from ARG/ENV."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    variables, found = {}, {}
    expand = lambda value: re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), value)  # noqa: E731
    for line in text.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() in ("ARG", "ENV"):
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                variables[key] = expand(value)
        elif instruction.upper() == "WORKDIR":
            found["WORKDIR"] = expand(rest.strip())
        elif instruction.upper() == "COPY":
            words = [w for w in rest.split() if not w.startswith("--")]
            if words[0].rstrip("/") == "dagster_project":
                found["COPY dagster_project"] = expand(words[-1]).rstrip("/")
    return {**found, "APP_DIR": variables.get("APP_DIR"), "PYTHONPATH": variables.get("PYTHONPATH", "")}


def dockerignored(path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in (REPO / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if any(
            fnmatch.fnmatchcase(c, pattern) or fnmatch.fnmatchcase(c, pattern.replace("**/", "")) for c in candidates
        ):
            ignored = not negated
    return ignored


# The stub is strict (it refuses what Tilt refuses, types included), or none of the tests below mean anything:
# tests/test_tilt_api_stub.py proves it.


# -- image build and live update ------------------------------------------------------------------------


def test_builds_the_user_code_image_from_the_dockerfile(run):
    assert set(run.images) == {ENV["IMAGE"]}
    image = run.images[ENV["IMAGE"]]
    assert image["context"] == REPO
    assert image["dockerfile"] == REPO / "Dockerfile" and image["dockerfile"].is_file()
    assert not [w for w in run.warnings if "Image not used" in w]


def test_inprocess_syncs_the_package_into_the_images_app_dir_then_reloads():
    steps = tilt("--run-mode=inprocess").images[ENV["IMAGE"]]["live_update"]
    assert [s.kind for s in steps] == ["fall_back_on", "sync", "run"]
    fall_back, sync, reload = steps

    assert [Path(p) for p in fall_back.args["paths"]] == [REPO / "pyproject.toml", REPO / "Dockerfile"]
    assert all(Path(p).is_file() for p in fall_back.args["paths"])

    image = dockerfile_paths()
    assert image["APP_DIR"] == ENV["APP_DIR"] and image["WORKDIR"] == ENV["APP_DIR"]
    assert Path(sync.args["local_path"]) == REPO / "dagster_project"
    assert (REPO / "dagster_project" / "__init__.py").is_file()
    assert sync.args["remote_path"].rstrip("/") == image["COPY dagster_project"] == f"{ENV['APP_DIR']}/dagster_project"
    # Synced files shadow the image's copy only if the app dir is what Python imports from.
    assert ENV["APP_DIR"] in image["PYTHONPATH"].split(":")
    # Tilt ignores changes to files .dockerignore excludes: the package must stay in the build context.
    assert not dockerignored("dagster_project/silver_asset.py")

    assert reload.args.get("trigger", []) == []  # every sync reloads
    assert reload.args["cmd"].split() == [
        "python",
        "-m",
        "dagster_project.control",
        "--url",
        WEBSERVER_URL,
        "--location",
        ENV["CODE_LOCATION"],
        "reload",
    ]


def test_k8s_jobs_mode_rebuilds_instead_of_syncing():
    """Run pods start from the image: a sync would change the code server only, not the runs."""
    assert tilt("--run-mode=k8s-jobs").images[ENV["IMAGE"]]["live_update"] == []


def test_the_reload_command_is_the_controls_cli():
    """The run step's arguments parse with the lead's CLI (python -m dagster_project.control)."""
    reload = next(s for s in tilt().images[ENV["IMAGE"]]["live_update"] if s.kind == "run")
    argv = reload.args["cmd"].split()[3:]
    probe = "import sys; from dagster_project import control; sys.argv[1:] = sys.argv[1:] + ['--help']; control.main()"
    result = subprocess.run([sys.executable, "-c", probe, *argv], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0 and "reload" in result.stdout, result.stderr


# -- Kubernetes manifests and the chart ------------------------------------------------------------------


def test_applies_the_k8s_manifests_with_pvcs_kept_on_tilt_down(run):
    files = {obj["_source"] for obj in run.k8s_objects}
    # Everything in k8s/ but the seed Job, which the bronze-seed resource replaces (next test).
    assert files == set((REPO / "k8s").glob("*.yaml")) - {REPO / "k8s" / "bronze-seed-job.yaml"}
    by_kind = {}
    for obj in run.k8s_objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    layer_pvcs = {ENV["BRONZE_PVC"], ENV["SILVER_PVC"], ENV["GOLD_PVC"]}
    assert layer_pvcs <= set(by_kind["PersistentVolumeClaim"])
    # Deleting the namespace would take the PVCs with it, so it is kept too.
    for obj in [*by_kind["PersistentVolumeClaim"].values(), by_kind["Namespace"][ENV["NAMESPACE"]]]:
        assert obj["metadata"].get("annotations", {}).get("tilt.dev/down-policy") == "keep", obj["metadata"]
    for obj in run.k8s_objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == ENV["NAMESPACE"], obj["metadata"]


def test_no_applied_workload_runs_the_live_updated_image(run):
    """A finished Job on the image (k8s/bronze-seed-job.yaml) would make every edit a full rebuild."""
    images = [c["image"] for o in run.k8s_objects for c in _containers(o)]
    assert images and not [i for i in images if i.split(":")[0] == ENV["IMAGE"]]


def _containers(obj):
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", []) + spec.get("initContainers", [])


def test_the_ui_node_port_matches_project_env(run):
    (service,) = [o for o in run.k8s_objects if o["kind"] == "Service" and o["spec"].get("type") == "NodePort"]
    assert [p["nodePort"] for p in service["spec"]["ports"]] == [int(ENV["UI_NODE_PORT"])]


def test_deploys_the_pinned_chart_with_both_values_files_and_the_built_image(run, mode):
    (helm,) = run.records["helm_resource"]
    (repo,) = run.records["helm_repo"]
    assert (repo["name"], repo["url"]) == ("dagster", ENV["DAGSTER_CHART_REPO"])
    assert helm["chart"] == f"{repo['name']}/dagster"
    assert (helm["release_name"], helm["namespace"]) == (ENV["HELM_RELEASE"], ENV["NAMESPACE"])
    assert f"--version={ENV['DAGSTER_CHART_VERSION']}" in helm["flags"]
    values = [flag.split("=", 1)[1] for flag in helm["flags"] if flag.startswith("--values=")]
    assert values == ["helm/values.yaml", f"helm/values-{mode}.yaml"]
    assert all((REPO / v).is_file() for v in values)
    assert helm["deps"] == values
    assert helm["image_deps"] == [ENV["IMAGE"]]
    repository_key = "dagster-user-deployments.deployments[0].image.repository"
    tag_key = "dagster-user-deployments.deployments[0].image.tag"
    assert helm["image_keys"] == [{"kind": "repository-tag", "keys": [repository_key, tag_key]}]
    # The keys point at the user deployment the values define, serving our code location.
    deployment = yaml.safe_load((REPO / "helm/values.yaml").read_text())["dagster-user-deployments"]["deployments"][0]
    assert deployment["name"] == ENV["CODE_LOCATION"] and deployment["image"]["repository"] == ENV["IMAGE"]
    assert {"helm-repo-dagster", "postgres"} <= set(run.resources["dagster"].resource_deps)
    assert run.resources["postgres"].resource_deps == ["storage"]


def test_schema_validation_opt_in_matches_build_and_deploy():
    (helm,) = tilt(environ={"HELM_SKIP_SCHEMA_VALIDATION": "true"}).records["helm_resource"]
    assert "--skip-schema-validation" in helm["flags"]
    (helm,) = tilt().records["helm_resource"]
    assert "--skip-schema-validation" not in helm["flags"]


def test_gives_the_first_helm_install_time(run):
    assert run.settings["k8s_upsert_timeout_secs"] >= 180


# -- dashboard -------------------------------------------------------------------------------------------


def test_every_resource_is_labelled(run):
    assert "uncategorized" not in run.resources
    for resource in run.resources.values():
        assert resource.labels and set(resource.labels) <= LABELS, (resource.name, resource.labels)
    assert {label for r in run.resources.values() for label in r.labels} == LABELS


def test_links_the_dagster_ui(run):
    assert Link(UI_URL, "Dagster UI") in run.resources["dagster"].links


def test_pipeline_logs_follow_the_pods_that_execute_runs(run, mode):
    pipeline = run.resources["pipeline"]
    assert pipeline.labels == ["pipeline"] and pipeline.resource_deps == ["dagster"]
    script, selector = pipeline.options["serve_cmd"][1:]
    assert (REPO / script).is_file()
    expected = {
        "inprocess": f"app.kubernetes.io/instance={ENV['HELM_RELEASE']},deployment={ENV['CODE_LOCATION']}",
        "k8s-jobs": f"app.kubernetes.io/component=run_worker,dagster/code-location={ENV['CODE_LOCATION']}",
    }
    assert selector == expected[mode]
    assert pipeline.options["serve_env"]["KUBE_CONTEXT"] == "orbstack"


def in_user_code(context: str = "orbstack") -> list[str]:
    return ["kubectl", "--context", context, "--namespace", ENV["NAMESPACE"], "exec", f"deploy/{USER_CODE}", "--"]


def test_run_buttons_submit_each_job_through_graphql(run):
    from dagster_project import defs

    control = ["python", "-m", "dagster_project.control", "--url", WEBSERVER_URL, "--location", ENV["CODE_LOCATION"]]
    buttons = run.buttons()
    for job in JOBS:
        defs.resolve_job_def(job)  # the job exists in the code location
        button = buttons[f"run-{job}"]
        assert button["resource"] == "pipeline"
        assert button["argv"] == [*in_user_code(), "env", f"DAGSTER_UI_URL={UI_URL}", *control, "submit", job]
    assert buttons["reload-code"]["argv"] == [*in_user_code(), *control, "reload"]
    summary = buttons["show-outputs"]["argv"]
    assert summary[: len(in_user_code())] == in_user_code()
    assert summary[len(in_user_code()) :][:3] == ["python", "-m", "dagster_project.summary"]
    assert (REPO / "dagster_project" / "summary.py").is_file()


def test_seed_button_never_overwrites_unless_ticked(run):
    button = run.buttons()["seed-bronze"]
    assert button["argv"] == ["sh", "tilt/seed-bronze.sh"]
    (choice,) = button["inputs"]
    assert choice["input"] == "bool" and choice["name"] == "ON_CONFLICT" and choice["default"] is False
    assert (choice["true_string"], choice["false_string"]) == ("replace", "keep")
    seed = run.resources["bronze-seed"].options
    assert seed["env"]["ON_CONFLICT"] == "keep"
    assert seed["cmd"] == button["argv"]


def test_buttons_attach_to_resources_and_run_existing_files(run):
    for button in run.buttons().values():
        assert button["resource"] in run.resources, button
        assert Path(button["dir"]) == REPO
    commands = [b["argv"] for b in run.buttons().values()]
    commands += [r.options[k] for r in run.resources.values() for k in ("cmd", "serve_cmd") if r.options.get(k)]
    scripts = {word for argv in commands for word in argv if isinstance(word, str) and word.endswith(".sh")}
    assert scripts and all((REPO / script).is_file() for script in scripts)
    for script in scripts:  # pod-side halves the host scripts send with `sh -c "$(cat ...)"`
        for sent in re.findall(r"\$\(cat (\S+)\)", (REPO / script).read_text()):
            assert (REPO / sent).is_file(), (script, sent)


def test_buttons_exist_only_where_tilt_shows_them():
    assert tilt(subcommand="ci").buttons()
    assert tilt(subcommand="down").buttons() == {}


# -- smoke check ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subcommand", "args", "runs"),
    [("up", (), False), ("ci", (), True), ("up", ("--smoke",), True), ("ci", ("--smoke=false",), False)],
)
def test_the_smoke_check_runs_under_tilt_ci(subcommand, args, runs):
    smoke = tilt(*args, subcommand=subcommand).resources["smoke"]
    assert smoke.options["auto_init"] is runs
    assert smoke.options["cmd"] == ["sh", "tilt/smoke.sh"] and (REPO / "tilt/smoke.sh").is_file()
    assert smoke.resource_deps == ["bronze-seed"]
    assert smoke.options["env"]["DAGSTER_URL"] == WEBSERVER_URL
    assert "medallion_job" in (REPO / "tilt/smoke.sh").read_text()


# -- kube contexts and flags -----------------------------------------------------------------------------


@pytest.mark.parametrize("context", ["orbstack", "docker-desktop", "kind-medallion"])
def test_local_clusters_are_allowed(context):
    run = tilt(context=context)
    assert run.allowed_contexts == [context]
    assert ("dagster-ui-forward" in run.resources) == context.startswith("kind-")
    buttons = run.buttons()
    assert buttons["run-medallion_job"]["argv"][:3] == ["kubectl", "--context", context]


@pytest.mark.parametrize("context", ["prod-eu", "gke_acme_europe-west1_main", "minikube"])
def test_other_contexts_are_refused_unless_named(context):
    with pytest.raises(TiltfileError, match=f"'{context}' is not a local cluster"):
        tilt(context=context)
    with pytest.raises(TiltfileError, match="is not a local cluster"):
        tilt("--allow-context=some-other-cluster", context=context)
    assert tilt(f"--allow-context={context}", context=context).allowed_contexts == [context]


def test_tilt_itself_stops_on_an_unallowed_context(tmp_path):
    """What the Tiltfile's own check adds to: Tilt refuses a non-local context it was not told to allow."""
    (tmp_path / "Tiltfile").write_text("k8s_yaml('pvc.yaml')\n")
    (tmp_path / "pvc.yaml").write_text("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: x}\n")
    with pytest.raises(TiltfileError, match="might be production"):
        evaluate(tmp_path / "Tiltfile", context="prod-eu")


@pytest.mark.parametrize(
    ("args", "error"),
    [(("--run-mode=celery",), "must be inprocess or k8s-jobs"), (("--runmode=k8s-jobs",), "unknown flag")],
)
def test_bad_flags_fail_the_tiltfile(args, error):
    with pytest.raises(TiltfileError, match=error):
        tilt(*args)
