"""Benchmark runner: throughput against the references, then the dev loop on the local stack.

python -m bench.run [--sizes 100000,1000000,10000000,30000000] [--repeat 3] [--large-repeat 1]
                    [--stack-repeat 10] [--out docs/BENCHMARKS.md] [--no-stack]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import startup
from bench.report import DevLoop, Report, render
from bench.stack import GOLD_MODULE, running_stack
from bench.throughput import Setup, measure_size

REPO = Path(__file__).resolve().parents[1]
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
# The default executor takes the in-process choice as run config; a fixed executor takes none.
CONFIGURABLE_EXECUTOR = "multi_or_in_process_executor"
LARGE_ROWS = 10_000_000


def main() -> None:
    args = _parse_args()
    # The project under test first; this checkout second so `-m bench.reference_*` resolves.
    paths = [str(args.project_dir), str(REPO), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    executor, in_process_by_default = job_executor(args.project_dir, env)
    # Run config replaces the job's default config as a whole, so pass it only when the job lacks it.
    in_process_config = executor == CONFIGURABLE_EXECUTOR and not in_process_by_default
    args.work_dir.mkdir(parents=True, exist_ok=True)
    report = Report(
        command="python -m bench.run " + " ".join(sys.argv[1:]),
        commit=_commit(args.project_dir),
        executor=executor + (" (in-process by the job's default run config)" if in_process_by_default else ""),
        in_process_config=in_process_config,
        load_before=os.getloadavg(),
        sizes=[],
        dev_loop=None,
    )
    with tempfile.TemporaryDirectory(dir=args.work_dir) as scratch:
        setup = Setup(args.project_dir, Path(scratch), env, in_process_config)
        for rows in args.sizes:
            # Above 10M rows each pandas run takes minutes: those sizes show how cost grows, not a median.
            repeat = args.repeat if rows <= LARGE_ROWS else args.large_repeat
            _say(f"throughput at {rows:,} rows x {repeat}")
            report.sizes.append(measure_size(setup, rows, repeat, args.seed))
        if args.startup_repeat:
            _say(f"start-up of make run's command against dagster job execute x {args.startup_repeat}")
            report.startup = startup.report(startup.measure(args.startup_repeat, Path(scratch) / "startup"))
        if not args.no_stack:
            _say(f"local stack: {args.stack_repeat} submits and edits")
            report.dev_loop = measure_dev_loop(args, env, Path(scratch) / "stack", in_process_config)
    report.load_after = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(report))
    _say(f"wrote {args.out}")


def measure_dev_loop(args: argparse.Namespace, env: dict[str, str], root: Path, in_process_config: bool) -> DevLoop:
    with running_stack(args.project_dir, root, env) as stack:
        loop = DevLoop(sample=stack.sample_note)
        variants = {"job defaults": None}
        if in_process_config:
            variants["in-process run config"] = IN_PROCESS
        for name, run_config in variants.items():
            stack.submit_to_success(run_config)  # warm-up: first dequeue, first run-worker start
            latencies = [stack.submit_to_success(run_config) for _ in range(args.stack_repeat)]
            loop.submit[name] = [latency.client_seconds for latency in latencies]
            loop.submit_phases[name] = [latency.phases for latency in latencies]
        reloads = {"GraphQL reloadRepositoryLocation": None}
        if (stack.app / "dagster_project" / "control" / "__main__.py").exists():
            reloads["`python -m dagster_project.control reload`"] = [
                sys.executable,
                "-m",
                "dagster_project.control",
                "--url",
                stack.url,
                "reload",
            ]
        for name, command in reloads.items():
            loop.edit[name] = [
                stack.edit_to_new_code(args.asset_file, f"bench-edit-{len(loop.edit)}-{attempt}", command)
                for attempt in range(args.stack_repeat)
            ]
        stack.save_to_fresh_gold("bench-save-warm-up")
        loop.save_to_fresh = [stack.save_to_fresh_gold(f"bench-save-{attempt}") for attempt in range(args.stack_repeat)]
    return loop


def job_executor(project_dir: Path, env: dict[str, str]) -> tuple[str, bool]:
    """medallion_job's executor name, and whether its default run config already picks in-process."""
    probe = (
        "import json; from dagster_project.definitions import defs; "
        "job = defs.resolve_job_def('medallion_job'); "
        "print(json.dumps([job.executor_def.name, (job.run_config or {}).get('execution')]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=project_dir, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cannot load medallion_job from {project_dir}:\n{done.stderr[-2000:]}")
    name, execution = json.loads(done.stdout.strip().splitlines()[-1])
    return name, "in_process" in ((execution or {}).get("config") or {})


def _commit(project_dir: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(project_dir), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="100000,1000000,10000000,30000000",
        type=lambda text: [int(value) for value in text.split(",") if value],  # "" measures the dev loop only
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--large-repeat", type=int, default=1, help=f"repeats for sizes above {LARGE_ROWS:,} rows")
    parser.add_argument("--stack-repeat", type=int, default=10)
    parser.add_argument("--no-stack", action="store_true")
    parser.add_argument("--startup-repeat", type=int, default=5, help="runs of each start-up command (0: skip)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    parser.add_argument("--project-dir", type=Path, default=REPO)
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--asset-file", default=GOLD_MODULE, help="file under dagster_project/ to edit")
    return parser.parse_args()


if __name__ == "__main__":
    main()
