"""The Tiltfile as the real Tilt loads it (tests/support/tilt.py): in both run modes, with each flag, and for the kube
contexts it must accept or refuse. What is asserted is what Tilt itself reports: manifests, images and their
live_update steps, the helm_resource command, buttons and the commands behind them."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.docker_image import dockerfile_paths
from tests.support.project import REPO_ROOT, RUN_MODES, UI_URL, WEBSERVER_URL, load_project_env
from tests.support.tilt import Link, TiltfileError, buttons, extensions_repo, helm_release, tiltfile_result
from tests.support.tilt_runners import CONTROL, in_user_code

pytestmark = pytest.mark.tilt

LABELS = {"storage", "dagster", "pipeline", "tools"}
JOBS = ("bronze_to_silver_job", "silver_to_gold_job", "medallion_job")
ENV = load_project_env()


@pytest.fixture(scope="module", params=RUN_MODES)
def mode(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def run(mode):
    return tiltfile_result(f"--run-mode={mode}")


def dockerignored(path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in (REPO_ROOT / ".dockerignore").read_text().splitlines():
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


# -- image build and live update ------------------------------------------------------------------------


def test_builds_the_user_code_image_from_the_dockerfile(run):
    assert set(run.images) == {ENV["IMAGE"]}
    image = run.images[ENV["IMAGE"]]
    assert Path(image.context) == REPO_ROOT
    assert image.dockerfile == (REPO_ROOT / "Dockerfile").read_text()
    # The image is deployed by the chart's release (helm_resource's image_deps), so Tilt rebuilds it for that.
    assert run.resources["dagster"].image_maps == [ENV["IMAGE"]]


def test_inprocess_syncs_the_package_into_the_images_app_dir_then_reloads():
    live_update = tiltfile_result("--run-mode=inprocess").images[ENV["IMAGE"]].live_update
    assert Path(live_update["basePath"]) == REPO_ROOT

    # fall_back_on: a change to what the dependencies are installed from rebuilds the image.
    assert live_update["stopPaths"] == ["pyproject.toml", "uv.lock", "Dockerfile"]
    assert all((REPO_ROOT / path).is_file() for path in live_update["stopPaths"])

    image = dockerfile_paths()
    assert image["APP_DIR"] == ENV["APP_DIR"] and image["WORKDIR"] == ENV["APP_DIR"]
    (sync,) = live_update["syncs"]
    assert sync["localPath"] == "dagster_project" and (REPO_ROOT / "dagster_project" / "__init__.py").is_file()
    assert sync["containerPath"] == image["COPY dagster_project"] == f"{ENV['APP_DIR']}/dagster_project"
    # Synced files shadow the image's copy only if the app dir is what Python imports from.
    assert ENV["APP_DIR"] in image["PYTHONPATH"].split(":")
    # Tilt ignores changes to files .dockerignore excludes: the package must stay in the build context.
    assert not dockerignored("dagster_project/defs/assets/silver.py")

    (reload,) = live_update["execs"]
    assert not reload.get("triggerPaths")  # every sync reloads
    assert reload["args"] == ["sh", "-c", " ".join([*CONTROL, "reload"])]


def test_k8s_jobs_mode_rebuilds_instead_of_syncing():
    """Run pods start from the image: a sync would change the code server only, not the runs."""
    live_update = tiltfile_result("--run-mode=k8s-jobs").images[ENV["IMAGE"]].live_update
    assert not live_update.get("syncs") and not live_update.get("execs"), live_update


def test_the_reload_command_is_the_controls_cli():
    """The run step's arguments parse with the control CLI (python -m dagster_project.control)."""
    (reload,) = tiltfile_result().images[ENV["IMAGE"]].live_update["execs"]
    argv = reload["args"][-1].split()[3:]
    result = subprocess.run([sys.executable, "-m", "dagster_project.control", *argv, "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and "reload" in result.stdout, result.stderr


def test_the_base_image_and_build_network_come_from_the_environment():
    """Unset, the Dockerfile's own defaults apply: no empty build arg overrides them."""
    image = tiltfile_result().images[ENV["IMAGE"]]
    assert (image.build_args, image.network) == ({}, "")
    image = tiltfile_result(environ={"PYTHON_IMAGE": "medallion-base:test", "DOCKER_BUILD_NETWORK": "host"}).images[
        ENV["IMAGE"]
    ]
    assert (image.build_args, image.network) == ({"PYTHON_IMAGE": "medallion-base:test"}, "host")
    preamble = (REPO_ROOT / "Dockerfile").read_text().split("\nFROM ", 1)[0]
    declared = dict(re.findall(r"^ARG (\w+)=?(\S*)", preamble, re.M))
    assert set(image.build_args) <= set(declared), "a build arg the Dockerfile does not declare is ignored by Docker"


# -- Kubernetes manifests and the chart ------------------------------------------------------------------


def test_applies_the_k8s_manifests_with_pvcs_kept_on_tilt_down(run):
    expected = []
    for path in sorted((REPO_ROOT / "k8s").glob("*.yaml")):
        if path.name != "bronze-seed-job.yaml":  # the bronze-seed resource replaces it (next test)
            expected += [obj for obj in yaml.safe_load_all(path.read_text()) if obj]
    key = lambda obj: (obj["kind"], obj["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, run.k8s_objects)) == sorted(map(key, expected))
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
    release = helm_release(run)
    # helm_resource's own helper runs `helm upgrade --install` with these.
    assert Path(release.helper) == Path(extensions_repo()) / "helm_resource" / "helm-apply-helper.py"
    assert release.chart == "dagster/dagster"
    repo = run.resources["helm-repo-dagster"]
    assert repo.cmd == ["helm", "repo", "add", "dagster", ENV["DAGSTER_CHART_REPO"], "--force-update"]
    assert (release.name, release.namespace) == (ENV["HELM_RELEASE"], ENV["NAMESPACE"])
    assert f"--version={ENV['DAGSTER_CHART_VERSION']}" in release.flags
    values = [flag.split("=", 1)[1] for flag in release.flags if flag.startswith("--values=")]
    assert values == ["helm/values.yaml", f"helm/values-{mode}.yaml"]
    assert all((REPO_ROOT / v).is_file() for v in values)
    repository_key = "dagster-user-deployments.deployments[0].image.repository"
    tag_key = "dagster-user-deployments.deployments[0].image.tag"
    assert release.image_keys == [(repository_key, tag_key)]
    # The keys point at the user deployment the values define, serving our code location.
    values = yaml.safe_load((REPO_ROOT / "helm/values.yaml").read_text())
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["name"] == ENV["CODE_LOCATION"] and deployment["image"]["repository"] == ENV["IMAGE"]
    assert set(run.resources["dagster"].resource_deps) == {"helm-repo-dagster", "postgres"}
    assert run.resources["postgres"].resource_deps == ["storage"]


def test_a_local_chart_replaces_the_chart_repository(tmp_path):
    """DAGSTER_CHART (a chart directory, as .ci/setup-helm.sh provides offline): no helm repo resource, no version
    flag (a local chart is what it is), the rest unchanged."""
    run = tiltfile_result(environ={"DAGSTER_CHART": str(tmp_path / "dagster")})
    release = helm_release(run)
    assert release.chart == str(tmp_path / "dagster")
    assert "helm-repo-dagster" not in run.resources
    assert run.resources["dagster"].resource_deps == ["postgres"]
    assert not [flag for flag in release.flags if flag.startswith("--version")]
    assert helm_release(tiltfile_result()).flags == [*release.flags, f"--version={ENV['DAGSTER_CHART_VERSION']}"]


def test_schema_validation_opt_in_matches_build_and_deploy():
    release = helm_release(tiltfile_result(environ={"HELM_SKIP_SCHEMA_VALIDATION": "true"}))
    assert "--skip-schema-validation" in release.flags
    assert "--skip-schema-validation" not in helm_release(tiltfile_result()).flags


def test_gives_the_first_helm_install_time(run):
    assert run.resources["dagster"].apply_timeout_seconds >= 180


# -- dashboard -------------------------------------------------------------------------------------------


def test_every_resource_is_labelled(run):
    for resource in run.resources.values():
        assert resource.labels and set(resource.labels) <= LABELS, (resource.name, resource.labels)
    assert {label for r in run.resources.values() for label in r.labels} == LABELS


def test_links_the_dagster_ui(run):
    assert run.resources["dagster"].links == [Link(UI_URL, "Dagster UI")]
    assert run.resources["dagster-ui"].links == [Link(UI_URL, "Dagster UI")]


def test_pipeline_logs_follow_the_pods_that_execute_runs(run, mode):
    pipeline = run.resources["pipeline"]
    assert pipeline.labels == ["pipeline"] and pipeline.resource_deps == ["dagster"]
    shell, script, selector = pipeline.serve_cmd
    assert shell == "sh" and (REPO_ROOT / script).is_file() and Path(pipeline.serve_dir) == REPO_ROOT
    expected = {
        "inprocess": f"app.kubernetes.io/instance={ENV['HELM_RELEASE']},deployment={ENV['CODE_LOCATION']}",
        "k8s-jobs": f"app.kubernetes.io/component=run_worker,dagster/code-location={ENV['CODE_LOCATION']}",
    }
    assert selector == expected[mode]
    assert pipeline.serve_env["KUBE_CONTEXT"] == "orbstack"


def test_run_buttons_submit_each_job_through_graphql(mode):
    from dagster_project.definitions import defs

    shown = buttons(f"--run-mode={mode}")
    for job in JOBS:
        defs.resolve_job_def(job)  # the job exists in the code location
        button = shown[f"run-{job}"]
        assert (button.resource, button.text, button.icon) == ("pipeline", f"Run {job}", "play_arrow")
        assert button.argv == [*in_user_code(), "env", f"DAGSTER_UI_URL={UI_URL}", *CONTROL, "submit", job]
    assert shown["reload-code"].argv == [*in_user_code(), *CONTROL, "reload"]
    assert shown["reload-code"].resource == "dagster"
    summary = shown["show-outputs"].argv
    assert summary == [*in_user_code(), "python", "-m", "dagster_project.summary", "--head", "5"]
    assert (REPO_ROOT / "dagster_project" / "summary.py").is_file()


def test_seed_button_never_overwrites_unless_ticked(run):
    button = buttons()["seed-bronze"]
    assert button.argv == ["sh", "tilt/seed-bronze.sh"] and button.resource == "bronze-seed"
    (choice,) = button.inputs
    assert choice["name"] == "ON_CONFLICT" and choice["label"] == "Replace files that differ"
    assert choice["bool"].get("defaultValue", False) is False
    assert (choice["bool"]["trueString"], choice["bool"]["falseString"]) == ("replace", "keep")
    seed = tiltfile_result().resources["bronze-seed"]
    assert seed.env["ON_CONFLICT"] == "keep"
    assert seed.cmd == button.argv
    # Seeds once when the release is up, then only on a click.
    assert (seed.trigger, seed.auto_init) == ("manual", True)


def test_buttons_attach_to_resources_and_run_existing_files(run):
    shown = buttons()
    assert len(shown) >= 8, sorted(shown)
    for button in shown.values():
        assert button.resource in run.resources, button
        assert Path(button.dir) == REPO_ROOT
    commands = [b.argv for b in shown.values()]
    commands += [command for r in run.resources.values() for command in (r.cmd, r.serve_cmd) if command]
    scripts = {word for argv in commands for word in argv if word.endswith(".sh")}
    assert scripts and all((REPO_ROOT / script).is_file() for script in scripts)
    for script in scripts:  # pod-side halves the host scripts send with `sh -c "$(cat ...)"`
        for sent in re.findall(r"\$\(cat (\S+)\)", (REPO_ROOT / script).read_text()):
            assert (REPO_ROOT / sent).is_file(), (script, sent)


# -- smoke check ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "runs"), [((), False), (("--smoke",), True), (("--smoke=false",), False)])
def test_the_smoke_check_runs_when_asked(args, runs):
    """Off under `tilt up` unless --smoke; `tilt ci` turns it on (run for real on the test cluster)."""
    smoke = tiltfile_result(*args).resources["smoke"]
    assert (smoke.trigger, smoke.auto_init) == ("manual", runs)
    assert smoke.cmd == ["sh", "tilt/smoke.sh"] and (REPO_ROOT / "tilt/smoke.sh").is_file()
    assert smoke.resource_deps == ["bronze-seed"]
    assert smoke.env["DAGSTER_URL"] == WEBSERVER_URL
    assert "medallion_job" in (REPO_ROOT / "tilt/smoke.sh").read_text()


@pytest.mark.parametrize(
    ("args", "auto"),
    [(("--run-mode=inprocess",), True), (("--run-mode=k8s-jobs",), False), (("--auto-refresh=false",), False)],
)
def test_auto_refresh_follows_saves_only_where_they_reach_the_pod(args, auto):
    refresh = tiltfile_result(*args).resources["auto-refresh"]
    assert (refresh.trigger, refresh.auto_init) == ("auto" if auto else "manual", False)
    assert refresh.deps == [str(REPO_ROOT / "dagster_project")]
    assert refresh.cmd == ["sh", "tilt/refresh.sh"] and refresh.resource_deps == ["bronze-seed"]


# -- kube contexts and flags -----------------------------------------------------------------------------


@pytest.mark.parametrize("context", ["orbstack", "docker-desktop", "kind-medallion"])
def test_local_clusters_are_allowed(context):
    run = tiltfile_result(context=context)
    assert ("dagster-ui-forward" in run.resources) == context.startswith("kind-")
    assert run.resources["pipeline"].serve_env["KUBE_CONTEXT"] == context
    assert buttons(context=context)["run-medallion_job"].argv[:3] == ["kubectl", "--context", context]


@pytest.mark.parametrize("context", ["prod-eu", "gke_acme_europe-west1_main", "minikube"])
def test_other_contexts_are_refused_unless_named(context):
    with pytest.raises(TiltfileError, match=f"kube context '{context}' is not a local cluster"):
        tiltfile_result(context=context)
    with pytest.raises(TiltfileError, match="is not a local cluster"):
        tiltfile_result("--allow-context=some-other-cluster", context=context)
    run = tiltfile_result(f"--allow-context={context}", context=context)
    assert run.resources["pipeline"].serve_env["KUBE_CONTEXT"] == context


def test_tilt_itself_stops_on_an_unallowed_context(tmp_path):
    """What the Tiltfile's own check adds to: Tilt refuses a non-local context it was not told to allow."""
    (tmp_path / "Tiltfile").write_text("k8s_yaml('pvc.yaml')\n")
    (tmp_path / "pvc.yaml").write_text("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: x}\n")
    with pytest.raises(TiltfileError, match="might be production"):
        tiltfile_result(context="prod-eu", tiltfile=tmp_path / "Tiltfile")


@pytest.mark.parametrize(
    ("args", "error"),
    [(("--run-mode=celery",), "must be inprocess or k8s-jobs"), (("--runmode=k8s-jobs",), "unknown flag: --runmode")],
)
def test_bad_flags_fail_the_tiltfile(args, error):
    with pytest.raises(TiltfileError, match=error):
        tiltfile_result(*args)


def test_the_test_clusters_stand_ins_replace_the_official_images_only_when_set(tmp_path):
    """POSTGRES_IMAGE and EXTRA_HELM_VALUES, as build-and-deploy.sh reads them (.ci/build-images.sh prints both)."""

    def postgres_image(run) -> str:
        (statefulset,) = [o for o in run.resources["postgres"].objects if o["kind"] == "StatefulSet"]
        return statefulset["spec"]["template"]["spec"]["containers"][0]["image"]

    official = tiltfile_result()
    manifest = next(
        o for o in yaml.safe_load_all((REPO_ROOT / "k8s/postgres.yaml").read_text()) if o["kind"] == "StatefulSet"
    )
    assert postgres_image(official) == manifest["spec"]["template"]["spec"]["containers"][0]["image"]
    overlay = tmp_path / "values-test-cluster.yaml"
    stand_ins = tiltfile_result(environ={"POSTGRES_IMAGE": "registry.test/medallion-dev/postgres:15",
                                         "EXTRA_HELM_VALUES": str(overlay)})  # fmt: skip
    assert postgres_image(stand_ins) == "registry.test/medallion-dev/postgres:15"
    assert helm_release(stand_ins).flags[-2:] == [f"--values={overlay}", f"--version={ENV['DAGSTER_CHART_VERSION']}"]
