"""Prints what the pipeline produced under DATA_ROOT: rows per layer, rejects per reason and the gold table.
Runs the same on a laptop and in the user-code pod, where the PVCs are."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from dagster_project.contract.names import REJECT_REASONS
from dagster_project.defs.resources import LayerStorage, data_root_from_env


def read_text_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def render(storage: LayerStorage, head: int) -> str:
    layers = {
        "bronze": storage.bronze_path(),
        "silver": storage.silver_path(),
        "rejects": storage.rejects_path(),
        "gold": storage.gold_path(),
    }
    frames = {name: read_text_csv(path) for name, path in layers.items()}
    lines = [f"DATA_ROOT={storage.root}"]
    for name, path in layers.items():
        frame = frames[name]
        count = "missing" if frame is None else f"{len(frame)} rows"
        lines.append(f"{name:<8} {count:>12}  {path}")
    rejects = frames["rejects"]
    if rejects is not None and "reject_reason" in rejects:
        counts = rejects["reject_reason"].value_counts()
        lines.append("rejects by reason: " + ", ".join(f"{r}={int(counts.get(r, 0))}" for r in REJECT_REASONS))
    for name in ("silver", "rejects"):
        if head and frames[name] is not None:
            lines += ["", f"{name} (first {head} rows):", frames[name].head(head).to_string(index=False)]
    gold = frames["gold"]
    if gold is not None:
        lines += ["", f"gold ({layers['gold']}):", gold.to_string(index=False) if len(gold) else "(header only)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.summary", description=__doc__.split("\n")[0])
    parser.add_argument("--head", type=int, default=0, help="also print the first N rows of silver and rejects")
    parser.add_argument("--root", default=data_root_from_env(), help="data root (default: env DATA_ROOT or /data)")
    args = parser.parse_args(argv)
    print(render(LayerStorage(root=args.root), args.head))
    return 0


if __name__ == "__main__":
    sys.exit(main())
