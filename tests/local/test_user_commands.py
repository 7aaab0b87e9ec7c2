"""The commands a user runs to see the pipeline's outputs, executed for real on real outputs:

- `python -m dagster_project.summary` with and without `--head` (`make run`, `make summary`),
- the Tiltfile's *Show outputs* button, as the button runs it: its kubectl half through the real kubectl (no
  cluster here: it must get as far as dialling the API server), its in-pod half as the pod runs it,
- `scripts/inspect-outputs.sh --dry-run`, and the command it prints, the same way.

Expected counts and rows come from the CSV files through Python's csv module, not from the code under test.
"""

from __future__ import annotations

import csv
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import materialize

from dagster_project.contract.names import REJECT_REASONS
from dagster_project.defs.assets.bronze import bronze_orders
from dagster_project.defs.assets.gold import gold_region_sales
from dagster_project.defs.assets.silver import silver_orders
from dagster_project.defs.resources import LayerStorage
from tests.support.project import REPO_ROOT, USER_CODE_DEPLOYMENT, load_project_env
from tests.support.stack import copy_sample_bronze
from tests.support.tilt import buttons
from tests.support.tools import require_tool

ENV = load_project_env()
LAYERS = {
    "bronze": "bronze/bronze_data.csv",
    "silver": "silver/silver_data.csv",
    "rejects": "silver/rejected_rows.csv",
    "gold": "gold/gold_data.csv",
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    """A data root with what medallion_job leaves: bronze, silver, rejects and gold of the sample data."""
    root = tmp_path_factory.mktemp("data")
    copy_sample_bronze(root)
    assert materialize(
        [bronze_orders, silver_orders, gold_region_sales], resources={"storage": LayerStorage(root=str(root))}
    ).success
    return root


def rows(root: Path, layer: str) -> list[dict[str, str]]:
    with (root / LAYERS[layer]).open(newline="", encoding="utf-8-sig") as file:
        return list(csv.DictReader(file))


def run_in_pod(argv: list[str], data_root: Path) -> subprocess.CompletedProcess:
    """A command as the code-server pod runs it: its python, DATA_ROOT where the PVCs are mounted."""
    assert argv[0] == "python", argv
    env = {**os.environ, "DATA_ROOT": str(data_root)}
    return subprocess.run(
        [sys.executable, *argv[1:]], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def summary(data_root: Path, *args: str) -> str:
    done = run_in_pod(["python", "-m", "dagster_project.summary", *args], data_root)
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_counts_and_gold(output: str, root: Path) -> None:
    lines = output.splitlines()
    assert lines, "python -m dagster_project.summary printed nothing"
    assert lines[0] == f"DATA_ROOT={root}"
    for line, (layer, path) in zip(lines[1:5], LAYERS.items(), strict=True):
        assert line.split() == [layer, str(len(rows(root, layer))), "rows", str(root / path)]
    rejects = rows(root, "rejects")
    by_reason = ", ".join(f"{r}={sum(row['reject_reason'] == r for row in rejects)}" for r in REJECT_REASONS)
    assert f"rejects by reason: {by_reason}" in lines
    gold = rows(root, "gold")
    assert gold and f"gold ({root / LAYERS['gold']}):" in lines
    start = lines.index(f"gold ({root / LAYERS['gold']}):") + 1
    assert lines[start].split() == list(gold[0])
    assert [line.split() for line in lines[start + 1 :]] == [words(row) for row in gold]


def head_table(output: str, layer: str, count: int) -> list[str]:
    lines = output.splitlines()
    start = lines.index(f"{layer} (first {count} rows):") + 1
    return lines[start : start + count + 2]


def test_summary_prints_counts_rejects_and_gold(outputs):
    output = summary(outputs)
    assert_counts_and_gold(output, outputs)
    assert "(first" not in output  # heads only when asked for


@pytest.mark.parametrize("count", ["2", "5"])
def test_summary_head_prints_the_first_rows_of_silver_and_rejects(outputs, count):
    output = summary(outputs, "--head", count)
    assert_counts_and_gold(output, outputs)
    for layer in ("silver", "rejects"):
        table = head_table(output, layer, int(count))
        expected = rows(outputs, layer)[: int(count)]
        assert table[0].split() == list(expected[0])  # the header
        assert [line.split() for line in table[1 : 1 + len(expected)]] == [words(row) for row in expected]
        assert table[1 + len(expected) :][:1] in ([], [""])  # no more rows than asked for


def words(row: dict[str, str]) -> list[str]:
    """A row as a printed table line splits: empty values print as nothing, values with spaces as words."""
    return " ".join(row.values()).split()


def test_summary_root_flag_and_missing_layers(tmp_path):
    copy_sample_bronze(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "dagster_project.summary", "--root", str(tmp_path)],
        cwd=REPO_ROOT, env={**os.environ, "DATA_ROOT": "/nonexistent"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines, "python -m dagster_project.summary --root printed nothing"
    assert lines[0] == f"DATA_ROOT={tmp_path}"
    assert [line.split()[:2] for line in lines[2:5]] == [
        ["silver", "missing"],
        ["rejects", "missing"],
        ["gold", "missing"],
    ]


def test_summary_refuses_a_misspelt_flag(outputs):
    done = run_in_pod(["python", "-m", "dagster_project.summary", "--hed", "5"], outputs)
    assert done.returncode == 2 and "unrecognized arguments: --hed" in done.stderr


# -- the cluster-side commands ---------------------------------------------------------------------------


@pytest.fixture
def kubeconfig(tmp_path) -> Path:
    """A kubeconfig for the contexts the commands name, pointing at a port nothing listens on."""
    require_tool("kubectl", shutil.which("kubectl") is not None, "kubectl is not installed")
    path = tmp_path / "kubeconfig"
    contexts = ", ".join(
        f"{{name: {name}, context: {{cluster: c, user: u}}}}" for name in ("orbstack", "kind-medallion")
    )
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: orbstack\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        f"contexts: [{contexts}]\nusers: [{{name: u, user: {{token: x}}}}]\n"
    )
    return path


def kubectl_accepts(argv: list[str], kubeconfig: Path) -> None:
    """The real kubectl parses the whole command line and gets as far as calling the API server."""
    assert argv[0] == "kubectl", argv
    done = subprocess.run(
        argv, env={**os.environ, "KUBECONFIG": str(kubeconfig)}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "127.0.0.1:1" in done.stderr and "refused" in done.stderr, f"kubectl refused {argv}:\n{done.stderr}"


def split_exec(argv: list[str]) -> tuple[list[str], list[str]]:
    """`kubectl ... exec TARGET -- COMMAND...` into the kubectl half and the command the pod runs."""
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


@pytest.mark.parametrize("context", ["orbstack", "kind-medallion"])
def test_show_outputs_button_prints_the_outputs(outputs, kubeconfig, context):
    button = buttons(context=context)["show-outputs"]
    kubectl, in_pod = split_exec(button.argv)
    deployment = f"deploy/{USER_CODE_DEPLOYMENT}"
    assert kubectl == ["kubectl", "--context", context, "--namespace", ENV["NAMESPACE"], "exec", deployment]
    kubectl_accepts(button.argv, kubeconfig)
    done = run_in_pod(in_pod, outputs)
    assert done.returncode == 0, f"{shlex.join(in_pod)} failed in the pod:\n{done.stderr}"
    assert_counts_and_gold(done.stdout, outputs)
    assert head_table(done.stdout, "silver", 5)


def inspect_outputs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(REPO_ROOT / "scripts/inspect-outputs.sh"), *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(("args", "summary_args"), [((), ["--head", "5"]), (("--head", "2"), ["--head", "2"])])
def test_inspect_outputs_dry_run_prints_the_command_that_shows_the_outputs(outputs, kubeconfig, args, summary_args):
    done = inspect_outputs("--dry-run", *args)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    argv = shlex.split(done.stdout)
    kubectl, in_pod = split_exec(argv)
    deployment = f"deployment/{USER_CODE_DEPLOYMENT}"
    assert kubectl == ["kubectl", "--namespace", ENV["NAMESPACE"], "exec", deployment]
    assert in_pod == ["python", "-m", "dagster_project.summary", *summary_args]
    kubectl_accepts(argv, kubeconfig)
    shown = run_in_pod(in_pod, outputs)
    assert shown.returncode == 0, shown.stderr
    assert_counts_and_gold(shown.stdout, outputs)
    assert head_table(shown.stdout, "rejects", int(summary_args[1]))
