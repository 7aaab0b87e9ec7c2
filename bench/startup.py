"""Start-up cost of the two commands that execute medallion_job in one process, side by side:
`dg launch --job medallion_job` (what `make run` types) and `dagster job execute` (what the throughput bench
runs). Both end in the same Dagster function; what differs is the CLI in front of it (dg resolves the project
from pyproject.toml before it loads the definitions).

    python -m bench.startup [--repeat 7]

Each repeat runs both commands, alternating which goes first, on the sample bronze file with a fresh
DAGSTER_HOME holding the project's dagster.yaml, as `make run` would. "Outside the run" is the wall time minus
RUN_START -> RUN_SUCCESS from the event log: imports, project and definitions load, instance set-up, teardown.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.measure import run_measured
from bench.steps import latest_run_timing

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMANDS = {
    "dg launch": [str(BIN / "dg"), "launch", "--job", "medallion_job"],
    "dagster job execute": [
        str(BIN / "dagster"),
        "job",
        "execute",
        "-m",
        "dagster_project.definitions",
        "-j",
        "medallion_job",
    ],
}


@dataclass(frozen=True)
class Sample:
    wall_seconds: float
    outside_run_seconds: float
    cpu_seconds: float


def measure(repeat: int, work_dir: Path) -> dict[str, list[Sample]]:
    # The environment `make` gives its recipes: the venv active (dg warns otherwise), the checkout importable.
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix, "PYTHONPATH": str(PROJECT_DIR)}
    samples: dict[str, list[Sample]] = {name: [] for name in COMMANDS}
    for attempt in range(repeat):
        order = list(COMMANDS) if attempt % 2 == 0 else list(reversed(COMMANDS))
        for name in order:
            samples[name].append(_run_once(name, attempt, env, work_dir))
    return samples


def _run_once(name: str, attempt: int, env: dict[str, str], work_dir: Path) -> Sample:
    run_dir = work_dir / f"{name.replace(' ', '-')}-{attempt}"
    data_root, home = run_dir / "data", run_dir / "dagster_home"
    shutil.copytree(PROJECT_DIR / "data" / "bronze", data_root / "bronze")
    home.mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    run_env = {**env, "DATA_ROOT": str(data_root), "DAGSTER_HOME": str(home)}
    measured = run_measured(COMMANDS[name], run_env, PROJECT_DIR, run_dir / "output.log")
    if measured.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {measured.returncode}):\n{measured.output[-4000:]}")
    run_seconds = latest_run_timing(home).run_seconds
    return Sample(measured.wall_seconds, measured.wall_seconds - run_seconds, measured.cpu_seconds)


def report(samples: dict[str, list[Sample]]) -> str:
    lines = ["| command | runs | wall (median) | outside the run (median) | CPU (median) |", "|---|---|---|---|---|"]
    for name, runs in samples.items():
        wall = statistics.median(s.wall_seconds for s in runs)
        outside = statistics.median(s.outside_run_seconds for s in runs)
        cpu = statistics.median(s.cpu_seconds for s in runs)
        lines.append(f"| `{name}` | {len(runs)} | {wall:.2f} s | {outside:.2f} s | {cpu:.2f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each command (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as work_dir:
        print(report(measure(args.repeat, Path(work_dir))))


if __name__ == "__main__":
    main()
