"""Multi-seed reports: `python -m lab.report RUNS_OR_SWEEP_DIR [--metric eval/return_mean]`.

Finds every run directory below the given one, groups runs by their overrides minus the seed,
and writes next to them:

- report.md and report.csv: per group the final metric's mean, interquartile mean (IQM, the
  robust aggregate of Agarwal et al. 2021), 95% bootstrap confidence interval of the mean
  (scipy.stats.bootstrap, BCa), and how many runs completed or failed;
- report.png: learning curves, one line per group (mean over seeds) with a 95% bootstrap band.

Failed runs count in the table; their metrics are not averaged in.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

IGNORED = ("seed=", "trainer.resume", "hydra.", "wandb.", "logger.", "runs_dir")


def find_runs(root: Path) -> list[Path]:
    return sorted(p.parent.parent for p in root.glob("**/.hydra/config.yaml")
                  if (p.parent.parent / "metrics.jsonl").exists() or (p.parent.parent / "result.json").exists())


def group_key(run: Path) -> str:
    over_path = run / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(over_path.read_text()) if over_path.exists() else []
    kept = sorted(o for o in overrides or [] if not o.lstrip("+~").startswith(IGNORED))
    if kept:
        return " ".join(kept)
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    return f"agent={cfg['agent']['name']}"


def read_metrics(run: Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    steps, values = [], []
    path = run / "metrics.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if metric in row and isinstance(row[metric], (int, float)):
                steps.append(row["step"])
                values.append(float(row[metric]))
    return np.array(steps), np.array(values)


def bootstrap_ci(x: np.ndarray) -> tuple[float, float]:
    """95% bootstrap CI of the mean; (nan, nan) below two runs or for identical values."""
    if len(x) < 2 or np.ptp(x) == 0:
        return (float(x[0]), float(x[0])) if len(x) and np.ptp(x) == 0 else (math.nan, math.nan)
    from scipy.stats import bootstrap

    res = bootstrap((x,), np.mean, confidence_level=0.95, n_resamples=2000, method="BCa",
                    random_state=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def iqm(x: np.ndarray) -> float:
    from scipy.stats import trim_mean

    return float(trim_mean(x, 0.25)) if len(x) else math.nan


def summarise(root: Path, metric: str) -> list[dict[str, Any]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for run in find_runs(root):
        groups[group_key(run)].append(run)
    # label each group by what differs between groups (the swept values), not the shared overrides
    shared = set.intersection(*(set(k.split()) for k in groups)) if len(groups) > 1 else set()
    groups = {(" ".join(o for o in k.split() if o not in shared) or k): v for k, v in groups.items()}
    rows = []
    for key, runs in sorted(groups.items()):
        finals, completed, failed = [], 0, 0
        for run in runs:
            result_path = run / "result.json"
            result = json.loads(result_path.read_text()) if result_path.exists() else {}
            if not result.get("completed"):
                failed += 1
                continue
            completed += 1
            final = result.get("final", {}).get(metric.split("/", 1)[-1])
            if final is None:
                _, values = read_metrics(run, metric)
                final = values[-1] if len(values) else None
            if final is not None:
                finals.append(float(final))
        x = np.array(finals)
        low, high = bootstrap_ci(x) if len(x) else (math.nan, math.nan)
        rows.append({"group": key, "runs": len(runs), "completed": completed, "failed": failed,
                     "mean": float(x.mean()) if len(x) else math.nan, "iqm": iqm(x),
                     "ci95_low": low, "ci95_high": high, "runs_dirs": runs})
    return rows


def markdown(rows: list[dict[str, Any]], metric: str) -> str:
    lines = [f"| group | runs | completed | failed | {metric} mean | IQM | 95% CI |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['group']} | {r['runs']} | {r['completed']} | {r['failed']} | {r['mean']:.2f} | "
                     f"{r['iqm']:.2f} | [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}] |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], metric: str, path: Path, unit: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for r in rows:
        curves = [read_metrics(run, metric) for run in r["runs_dirs"]]
        curves = [(s, v) for s, v in curves if len(s)]
        if not curves:
            continue
        grid = np.unique(np.concatenate([s for s, _ in curves]))
        # each run's curve on the common step grid (held constant after its last evaluation)
        ys = np.stack([np.interp(grid, s, v) for s, v in curves])
        mean = ys.mean(0)
        line, = ax.plot(grid, mean, label=f"{r['group'] or 'all'} (n={len(curves)})")
        if len(curves) >= 2:
            bands = np.array([bootstrap_ci(ys[:, i]) for i in range(len(grid))])
            ax.fill_between(grid, bands[:, 0], bands[:, 1], alpha=0.2, color=line.get_color())
    ax.set_xlabel(unit)
    ax.set_ylabel(f"{metric} (mean over seeds, 95% bootstrap CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.report", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a sweep directory or any directory holding runs")
    parser.add_argument("--metric", default="eval/return_mean")
    parser.add_argument("--out", type=Path, default=None, help="where report.{md,csv,png} go (default: ROOT)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"lab.report: error: {args.root} is not a directory", file=sys.stderr)
        return 2
    from lab.errors import LabError
    from lab.safety import check_config

    try:
        for run in find_runs(args.root):  # the report reads values only, but refuses what names foreign code
            config = run / ".hydra" / "config.yaml"
            check_config(yaml.safe_load(config.read_text()) or {}, str(config))
    except (LabError, yaml.YAMLError) as exc:
        print(f"lab.report: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    rows = summarise(args.root, args.metric)
    if not rows:
        print(f"lab.report: error: no runs under {args.root} (a run has .hydra/config.yaml and metrics.jsonl)",
              file=sys.stderr)
        return 2
    out = args.out or args.root
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, args.metric)
    (out / "report.md").write_text(table + "\n")
    with open(out / "report.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["group", "runs", "completed", "failed", "mean", "iqm", "ci95_low", "ci95_high"])
        for r in rows:
            writer.writerow([r["group"], r["runs"], r["completed"], r["failed"], r["mean"], r["iqm"],
                             r["ci95_low"], r["ci95_high"]])
    first = rows[0]["runs_dirs"][0]
    cfg = yaml.safe_load((first / ".hydra" / "config.yaml").read_text())
    unit = "generator steps" if cfg.get("data") else "env steps"
    plot(rows, args.metric, out / "report.png", unit)
    print(table)
    print(f"\nwrote {out / 'report.md'}, {out / 'report.csv'}, {out / 'report.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
