"""Wall time and peak memory of a command, counted over its whole process tree.

Peak RSS is reported two ways because they answer different questions: `tree_peak_rss` is the largest sum of
RSS over the process and all its descendants, sampled every POLL_SECONDS with psutil (what the machine must
hold at once, e.g. a multiprocess executor's children together); `largest_process_rss` is GNU time's
"Maximum resident set size" (the kernel's ru_maxrss: high-water mark of the single largest process in the
tree, exact where sampling can miss a short spike). GNU time sits between us and the command because a
child forked from this (Dagster-importing) process would inherit our RSS into its ru_maxrss.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

POLL_SECONDS = 0.02
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


@dataclass(frozen=True)
class Measurement:
    wall_seconds: float
    tree_peak_rss: int  # bytes
    largest_process_rss: int  # bytes
    cpu_seconds: float  # user + system over the tree (GNU time), less sensitive to a busy machine than wall
    returncode: int
    output: str


def run_measured(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> Measurement:
    """Run `command` to completion; its stdout and stderr go to `log` (also returned as text)."""
    max_rss_file = log.with_suffix(".maxrss")
    if GNU_TIME:
        command = [GNU_TIME, "--format", "%M %U %S", "--output", str(max_rss_file), *command]
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
        tree_peak = _poll_tree_rss(process.pid)
        process.wait()
        wall = time.perf_counter() - started
    # GNU time may put "Command exited with non-zero status N" first; the figures are the last line.
    kilobytes, user, system = max_rss_file.read_text().split()[-3:] if GNU_TIME else ("0", "nan", "nan")
    return Measurement(
        wall_seconds=wall,
        tree_peak_rss=tree_peak,
        largest_process_rss=int(kilobytes) * 1024,
        cpu_seconds=float(user) + float(system),
        returncode=process.returncode,
        output=log.read_text(errors="replace"),
    )


def _poll_tree_rss(pid: int) -> int:
    """Largest summed RSS of pid and its descendants, sampled until pid exits (it stays unreaped)."""
    root = psutil.Process(pid)
    peak = 0
    while True:
        try:
            if root.status() == psutil.STATUS_ZOMBIE:
                return peak
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return peak
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        peak = max(peak, total)
        time.sleep(POLL_SECONDS)
