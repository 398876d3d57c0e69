"""Multi-seed reports: `python -m lab.report RUNS_OR_SWEEP_DIR [--metric eval/<key>]`.

The metric defaults to the score the runs' learner names (result.json `score`: eval/return_mean
for RL, eval/fid or eval/score for GANs).

Finds every run directory below the given one, groups runs by their overrides minus the seed,
and writes next to them:

- report.md and report.csv: per group the final metric's mean, interquartile mean (IQM, the
  robust aggregate of Agarwal et al. 2021) and the IQM's 95% stratified-bootstrap confidence
  interval (both from rliable, the paper's library), and how many runs completed or failed;
- report.png: learning curves, one line per group (IQM over seeds) with a 95% bootstrap band;
- for runs evaluated on held-out levels (Mario level sets), a second table in report.md: the clear
  rate on the training levels, on the held-out levels (all, and each set) and the gap.

Failed runs count in the table; their metrics are not averaged in. `iqm_intervals` is the one
place the lab computes IQMs and their intervals (lab.bench uses it too).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import yaml

IGNORED = ("seed=", "trainer.resume", "hydra.", "wandb.", "logger.", "runs_dir")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


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


BOOTSTRAP_REPS = 2000  # rliable's default for performance profiles; its 50,000 take ~30 s a call here
CONFIDENCE = 0.95


@contextmanager
def _seeded_numpy(seed: int) -> Iterator[None]:
    """rliable's StratifiedBootstrap draws its resamples from numpy's global RNG (np.random.choice;
    its random_state argument is not used for them): seed it for reproducible intervals, then
    give the caller's global state back."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _column_iqm(scores: np.ndarray) -> np.ndarray:
    # rliable.metrics.aggregate_iqm (trim_mean at 25%, axis=None) of each column, vectorised: one
    # call per bootstrap resample instead of one per column (learning curves have hundreds)
    from scipy.stats import trim_mean

    return np.atleast_1d(trim_mean(scores, 0.25, axis=0))


def iqm_intervals(scores: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of a (runs, columns) matrix: the IQM over runs and its 95% stratified-bootstrap
    interval (rliable: runs resampled with replacement within each column, percentile method).

    Returns (iqm, low, high), each of shape (columns,); the interval is nan below two runs."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"iqm_intervals needs a (runs, columns) matrix, got shape {scores.shape}")
    if scores.shape[0] == 0:
        nan = np.full(scores.shape[1], math.nan)
        return nan, nan.copy(), nan.copy()
    if scores.shape[0] == 1:
        nan = np.full(scores.shape[1], math.nan)
        return scores[0].copy(), nan, nan.copy()
    from rliable import library as rly

    with _seeded_numpy(seed):
        point, interval = rly.get_interval_estimates({"x": scores}, _column_iqm, reps=reps,
                                                     confidence_interval_size=CONFIDENCE)
    return point["x"], interval["x"][0], interval["x"][1]


def aggregate_intervals(scores: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 0) -> dict[str, Any]:
    """rliable's aggregates of a (runs, tasks) matrix of normalised scores: the IQM over all runs
    and tasks and the optimality gap (how far scores fall short of 1, gamma=1), each with its 95%
    stratified-bootstrap interval (runs resampled within each task)."""
    from rliable import library as rly
    from rliable import metrics

    def both(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_optimality_gap(x)])

    scores = np.asarray(scores, dtype=float)
    with _seeded_numpy(seed):
        point, interval = rly.get_interval_estimates({"x": scores}, both, reps=reps,
                                                     confidence_interval_size=CONFIDENCE)
    (iqm, gap), ci = point["x"], interval["x"]
    return {"iqm": float(iqm), "iqm_ci95": [float(ci[0, 0]), float(ci[1, 0])],
            "optimality_gap": float(gap), "optimality_gap_ci95": [float(ci[0, 1]), float(ci[1, 1])]}


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
        (iqm,), (low,), (high,) = iqm_intervals(x[:, None])
        rows.append({"group": key, "runs": len(runs), "completed": completed, "failed": failed,
                     "mean": float(x.mean()) if len(x) else math.nan, "iqm": float(iqm),
                     "ci95_low": float(low), "ci95_high": float(high), "runs_dirs": runs})
    return rows


def markdown(rows: list[dict[str, Any]], metric: str) -> str:
    lines = [f"| group | runs | completed | failed | {metric} mean | IQM | IQM 95% CI |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['group']} | {r['runs']} | {r['completed']} | {r['failed']} | {r['mean']:.2f} | "
                     f"{r['iqm']:.2f} | [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}] |")
    return "\n".join(lines)


def level_sets_table(root: Path, results: list[dict[str, Any]]) -> str:
    """Runs evaluated on held-out levels (the Mario game's level sets): per group, the clear rate on the
    training levels, on all held-out levels and on each held-out set, and the gap (IQM over seeds
    [95% CI]); "" when no run has held-out results."""
    finals = [r.get("final", {}) for r in results]
    if not any("heldout/clear_rate" in f for f in finals):
        return ""
    sets = sorted({k.split("/")[1] for f in finals for k in f if k.startswith("heldout/") and k.count("/") == 2})
    columns = ["clear_rate", "heldout/clear_rate", "gap/clear_rate", *(f"heldout/{s}/clear_rate" for s in sets)]
    cells: dict[str, list[str]] = {}
    for column in columns:
        for r in summarise(root, f"eval/{column}"):
            value = "" if math.isnan(r["iqm"]) else f"{r['iqm']:.2f} [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]"
            cells.setdefault(r["group"], []).append(value)
    names = ["training levels", "held out", "gap", *sets]
    lines = ["## Clear rate per level set (IQM over seeds [95% CI])", "",
             "| group | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {group} | " + " | ".join(values) + " |" for group, values in cells.items()]
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
        iqm, low, high = iqm_intervals(ys)  # one stratified bootstrap for every step of the grid
        line, = ax.plot(grid, iqm, label=f"{r['group'] or 'all'} (n={len(curves)})")
        if len(curves) >= 2:
            ax.fill_between(grid, low, high, alpha=0.2, color=line.get_color())
    ax.set_xlabel(unit)
    ax.set_ylabel(f"{metric} (IQM over seeds, 95% bootstrap CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.report", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a sweep directory or any directory holding runs")
    parser.add_argument("--metric", default=None,
                        help="an eval/... or train/... key of metrics.jsonl (default: eval/<the score the runs' "
                             "learner names in result.json>, e.g. eval/return_mean, eval/fid)")
    parser.add_argument("--out", type=Path, default=None, help="where report.{md,csv,png} go (default: ROOT)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"lab.report: error: {args.root} is not a directory", file=sys.stderr)
        return 2
    from lab.core.errors import LabError
    from lab.safety import check_config

    try:
        for run in find_runs(args.root):  # the report reads values only, but refuses what names foreign code
            config = run / ".hydra" / "config.yaml"
            check_config(yaml.safe_load(config.read_text()) or {}, str(config))
    except (LabError, yaml.YAMLError) as exc:
        print(f"lab.report: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    results = [_read_json(run / "result.json") for run in find_runs(args.root)]
    if args.metric is None:
        scores = [r["score"] for r in results if r.get("score")]
        args.metric = f"eval/{scores[0]}" if scores else "eval/return_mean"
    rows = summarise(args.root, args.metric)
    if not rows:
        print(f"lab.report: error: no runs under {args.root} (a run has .hydra/config.yaml and metrics.jsonl)",
              file=sys.stderr)
        return 2
    out = args.out or args.root
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, args.metric)
    levels = level_sets_table(args.root, results)
    if levels:
        table += "\n\n" + levels
    (out / "report.md").write_text(table + "\n")
    with open(out / "report.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["group", "runs", "completed", "failed", "mean", "iqm", "ci95_low", "ci95_high"])
        for r in rows:
            writer.writerow([r["group"], r["runs"], r["completed"], r["failed"], r["mean"], r["iqm"],
                             r["ci95_low"], r["ci95_high"]])
    units = [r["step_unit"] for r in results if r.get("step_unit")]
    plot(rows, args.metric, out / "report.png", units[0] if units else "steps")
    print(table)
    print(f"\nwrote {out / 'report.md'}, {out / 'report.csv'}, {out / 'report.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
