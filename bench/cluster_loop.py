"""The dev loop on the one-node test cluster, for docs/BENCHMARKS.md: `tilt up` on a copy of the repository, saves
of the silver asset (save -> the location serves the saved code, save -> fresh gold on the PVC) and submits
through the NodePort. The cluster tests take the measurements (tests/dev_loop/test_tilt_loop_cluster.py, which
writes them to MEDALLION_FIGURES); this runs them with more saves and puts the section beside the local stack's.

    python -m bench.cluster_loop [--saves 10] [--out docs/BENCHMARKS.md]     (needs `make cluster-up`)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST = "tests/dev_loop/test_tilt_loop_cluster.py::test_saves_reach_the_pod_by_live_update_and_gold_shows_each"
HEADING = "## Dev loop on the test cluster"
SERIES = {
    "submit": "submit -> SUCCESS through the NodePort (medallion_job, inprocess)",
    "reloaded": "save -> the location serves the saved code (live update: sync + `control reload`)",
    "gold": "save -> fresh gold on the PVC (the auto-refresh run included)",
}


def render(figures: dict[str, list[float]], commit: str) -> str:
    rows = [
        f"{HEADING}\n",
        f"Measured by `python -m bench.cluster_loop` at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on commit `{commit}`, "
        "in a run of its own: `tilt up` (inprocess mode) on the one-node test cluster of `make cluster-up`, on "
        "this machine, sample bronze; each save changes what silver writes. No save built an image or restarted "
        "the pod (the test checks it).\n",
        "| measure | median | min | max | n |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in SERIES.items():
        values = figures[key]
        rows.append(
            f"| {label} | {statistics.median(values):.2f} s | {min(values):.2f} s | {max(values):.2f} s "
            f"| {len(values)} |"
        )
    return "\n".join([*rows, ""])


def replace_section(document: str, section: str) -> str:
    """`section` in place of the old one, or after the local stack's dev loop the first time."""
    if HEADING in document:
        start = document.index(HEADING)
        end = document.find("\n## ", start + len(HEADING))
        return document[:start] + section + ("" if end < 0 else document[end:])
    anchor = document.index("## Dev loop on the local stack")
    end = document.find("\n## ", anchor + 1)
    return document[: end + 1] + "\n" + section + document[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saves", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "figures.json"
        env = {**os.environ, "MEDALLION_SAVES": str(args.saves), "MEDALLION_FIGURES": str(out)}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST], cwd=REPO, env=env)
        if done.returncode != 0 or not out.exists():
            print(
                "bench.cluster_loop: the cluster test failed or skipped (is `make cluster-up` running?)",
                file=sys.stderr,
            )
            return 1
        figures = json.loads(out.read_text())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    args.out.write_text(replace_section(args.out.read_text(), render(figures, commit.strip())))
    print(f"bench.cluster_loop: wrote {HEADING[3:]} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
