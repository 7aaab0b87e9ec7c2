"""The Tilt helper scripts in tilt/. The pod-side halves run for real: with the host's sh and coreutils on
temporary directories, and inside the built user-code image as its non-root user (the way kubectl exec runs
them). The host halves need a cluster; here they are checked for
syntax and for refusing to start without the Tiltfile's environment."""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.support.project import REPO_ROOT

SCRIPTS = sorted((REPO_ROOT / "tilt").glob("*.sh"))
SEED = (REPO_ROOT / "tilt/seed-bronze-in-pod.sh").read_text()
CHECK_GOLD = (REPO_ROOT / "tilt/check-gold-in-pod.sh").read_text()
GOLD_HEADER = "region,orders,units,revenue,avg_order_value\n"
SAMPLE = "order_id,order_date\n1,2024-03-01\n"


def tar_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def in_pod(script: str, *args: str, stdin: bytes = b"", image: str | None = None, mount: Path | None = None):
    """Run a pod-side script as `kubectl exec POD -- sh -c SCRIPT NAME ARGS...` would: on the host, or in
    the image with `mount` at the same path, as the image's user."""
    command = ["sh", "-c", script, "pod-script", *args]
    if image:
        command = [
            "docker",
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "--entrypoint",
            "sh",
            "-v",
            f"{mount}:{mount}",
            image,
            *command[1:],
        ]
    return subprocess.run(command, input=stdin, capture_output=True, timeout=120)


# In the image, the first test may be the one that builds it (bounded at 1800 s).
@pytest.fixture(params=["host", pytest.param("image", marks=[pytest.mark.docker, pytest.mark.timeout(2100)])])
def where(request, tmp_path):
    """Where pod-side scripts run; the bronze/gold directories are world-writable as fsGroup makes PVCs."""
    if request.param == "host":
        return None
    return request.getfixturevalue("image")  # the built user-code image (tests/support/docker_image.py)


@pytest.fixture
def bronze(tmp_path) -> Path:
    directory = tmp_path / "bronze"
    (directory / "lost+found").mkdir(parents=True)  # what a fresh volume holds
    directory.chmod(0o777)
    return directory


def seed(bronze: Path, on_conflict: str, files: dict[str, str], where: str | None):
    return in_pod(SEED, str(bronze), on_conflict, stdin=tar_of(files), image=where, mount=bronze)


def leftovers(bronze: Path) -> list[str]:
    return [p.name for p in bronze.iterdir() if p.name.startswith(".seed-")]


def test_seeds_an_empty_volume(bronze, where):
    result = seed(bronze, "keep", {"bronze_data.csv": SAMPLE}, where)
    assert result.returncode == 0, result.stderr
    assert (bronze / "bronze_data.csv").read_text() == SAMPLE
    assert b"seeded:" in result.stdout and b"1 file(s) written" in result.stdout
    assert leftovers(bronze) == []


def test_identical_files_are_left_alone(bronze, where):
    (bronze / "bronze_data.csv").write_text(SAMPLE)
    inode = (bronze / "bronze_data.csv").stat().st_ino
    result = seed(bronze, "keep", {"bronze_data.csv": SAMPLE}, where)
    assert result.returncode == 0 and b"unchanged:" in result.stdout
    assert (bronze / "bronze_data.csv").stat().st_ino == inode


def test_keeps_a_differing_file_unless_replace_is_chosen(bronze, where):
    user_data = "order_id,order_date\n42,2024-01-01\n"
    (bronze / "bronze_data.csv").write_text(user_data)
    (bronze / "bronze_data.csv").chmod(0o666)

    kept = seed(bronze, "keep", {"bronze_data.csv": SAMPLE, "extra.csv": "a\n"}, where)
    assert kept.returncode == 0, kept.stderr
    assert (bronze / "bronze_data.csv").read_text() == user_data
    assert b"kept:" in kept.stdout and (bronze / "extra.csv").read_text() == "a\n"

    replaced = seed(bronze, "replace", {"bronze_data.csv": SAMPLE}, where)
    assert replaced.returncode == 0, replaced.stderr
    assert (bronze / "bronze_data.csv").read_text() == SAMPLE
    assert leftovers(bronze) == []


@pytest.mark.parametrize(
    ("stdin", "policy", "message"),
    [(b"not a tar archive", "keep", b"tar"), (None, "overwrite", b"ON_CONFLICT must be keep or replace")],
)
def test_bad_input_changes_nothing(bronze, where, stdin, policy, message):
    (bronze / "bronze_data.csv").write_text("original\n")
    stdin = tar_of({"bronze_data.csv": SAMPLE}) if stdin is None else stdin
    result = in_pod(SEED, str(bronze), policy, stdin=stdin, image=where, mount=bronze)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert (bronze / "bronze_data.csv").read_text() == "original\n"
    assert leftovers(bronze) == []


def test_clears_what_an_interrupted_seeding_left(bronze, where):
    (bronze / ".seed-abc123").mkdir()
    (bronze / ".seed-abc123" / "bronze_data.csv").write_text("half")
    (bronze / ".seed-abc123").chmod(0o777)
    (bronze / ".seed-abc123" / "bronze_data.csv").chmod(0o666)
    assert seed(bronze, "keep", {"bronze_data.csv": SAMPLE}, where).returncode == 0
    assert leftovers(bronze) == []


@pytest.fixture
def gold_dir(tmp_path) -> Path:
    directory = tmp_path / "gold"
    directory.mkdir()
    directory.chmod(0o755)
    return directory


def check_gold(gold_dir: Path, text: str | None, started: float, where: str | None):
    gold = gold_dir / "gold_data.csv"
    if text is not None:
        gold.write_text(text)
    return in_pod(CHECK_GOLD, str(gold), str(int(started)), image=where, mount=gold_dir)


def test_gold_check_passes_on_a_fresh_table(gold_dir, where):
    result = check_gold(gold_dir, GOLD_HEADER + "North,2,5,59.97,29.99\n", time.time() - 5, where)
    assert result.returncode == 0, result.stderr
    assert b"1 region row(s)" in result.stdout


@pytest.mark.parametrize(
    ("text", "age", "reason"),
    [
        (None, 5, b"does not exist"),
        ("region,orders\nNorth,2\n", 5, b"starts with"),
        (GOLD_HEADER, 5, b"no region rows"),
        (GOLD_HEADER + "North,2,5,59.97,29.99\n", -60, b"predates this run"),
    ],
)
def test_gold_check_fails_loudly(gold_dir, where, text, age, reason):
    result = check_gold(gold_dir, text, time.time() - age, where)
    assert result.returncode == 1 and reason in result.stderr, result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse(script):
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0


# The host scripts that talk to a cluster (source-digest.sh only hashes local files).
CLUSTER_SCRIPTS = [s for s in SCRIPTS if "in-pod" not in s.name and "kubectl" in s.read_text()]


@pytest.mark.parametrize("script", CLUSTER_SCRIPTS, ids=lambda p: p.name)
def test_host_scripts_refuse_to_run_outside_tilt(script, tmp_path):
    """Without the Tiltfile's KUBE_CONTEXT they stop before touching any cluster."""
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    (tmp_path / "kubectl").write_text("#!/bin/sh\necho kubectl must not be called >&2\nexit 99\n")
    (tmp_path / "kubectl").chmod(0o755)
    result = subprocess.run(["sh", str(script)], env=env, capture_output=True, timeout=30)
    assert result.returncode != 0 and b"KUBE_CONTEXT" in result.stderr, result.stderr
    assert b"kubectl must not be called" not in result.stderr
