"""The bronze-seed Job's script, run by a real `sh` against temporary directories standing in for the
image's sample and the bronze volume: it seeds an empty volume and never overwrites."""

import subprocess

import yaml

from tests.support.project import REPO_ROOT, load_project_env

ENV = load_project_env()


def seed_container() -> dict:
    job = yaml.safe_load((REPO_ROOT / "k8s" / "bronze-seed-job.yaml").read_text())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def run_seed(sample, target) -> subprocess.CompletedProcess:
    command = seed_container()["command"]
    return subprocess.run(
        command,
        env={"PATH": "/usr/bin:/bin", "SAMPLE": str(sample), "TARGET": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )


def test_seeds_an_empty_volume(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text("order_id,region\n1,north\n")
    volume = tmp_path / "bronze"
    volume.mkdir()
    (volume / "lost+found").mkdir()  # what a fresh ext4 volume holds

    result = run_seed(sample, volume / "bronze_data.csv")

    assert (volume / "bronze_data.csv").read_text() == sample.read_text()
    assert sorted(p.name for p in volume.iterdir()) == ["bronze_data.csv", "lost+found"]
    assert "seeded" in result.stdout


def test_never_overwrites_existing_bronze(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text("order_id,region\n1,north\n")
    target = tmp_path / "bronze_data.csv"
    target.write_text("order_id,region\n42,user data\n")

    result = run_seed(sample, target)

    assert target.read_text() == "order_id,region\n42,user data\n"
    assert "left untouched" in result.stdout


def test_job_paths_match_the_image_and_the_layout():
    env = {e["name"]: e["value"] for e in seed_container()["env"]}
    assert env["SAMPLE"] == f"{ENV['APP_DIR']}/data/bronze/bronze_data.csv"
    assert env["TARGET"] == f"{ENV['DATA_ROOT']}/bronze/bronze_data.csv"
    mounts = {m["mountPath"]: m for m in seed_container()["volumeMounts"]}
    # The one pod allowed to write bronze.
    assert not mounts[f"{ENV['DATA_ROOT']}/bronze"].get("readOnly", False)
