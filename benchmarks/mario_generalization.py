"""Mario as a generalization benchmark (issue 15): PPO trained on 1, 10, 100, 1,000 and unbounded
procedural levels (difficulty 0.5), one fixed step budget, several seeds; every run is evaluated on
its training levels and on held-out levels it never saw (200 procedural levels on seeds training never
uses, and the four built-in levels). The table (IQM over seeds with 95% bootstrap CIs, from
lab.report) and a plot of train and held-out clear rate against the number of training levels (the
shape of Procgen's Figure 2, Cobbe et al. 2019) go to --out.

    python benchmarks/mario_generalization.py [--seeds 3] [--steps 3000000] [--levels 1 10 100 1000 0]
        [--preset ppo_mario_procedural] [--out benchmarks/out/mario_generalization] [--jobs 2]
        [--extra KEY=VALUE ...]

--preset NAME trains every run with conf/agent_env/NAME.yaml instead of ppo_mario's (the level count,
difficulty 0.5 and --steps still come from this script).

Runs already finished in --out are kept (re-running resumes the study).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_dir(out: Path, levels: int, seed: int) -> Path:
    return out / f"levels{levels}" / f"seed{seed}"


def train(out: Path, levels: int, seed: int, steps: int, extra: list[str], preset: str | None = None) -> None:
    where = run_dir(out, levels, seed)
    if (where / "result.json").exists():
        return
    args = ["agent=ppo", "env=mario", *([f"agent_env={preset}"] if preset else []), "env.level=procedural",
            f"env.train_levels={levels}", "env.difficulty=0.5", "env.eval_levels=heldout", f"trainer.total_steps={steps}", f"trainer.eval_every={max(steps // 6, 1)}",
            "trainer.video_every=0", f"seed={seed}", "wandb.mode=disabled", f"hydra.run.dir={where}", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"levels={levels} seed={seed}: {proc.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3_000_000)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 100, 1000, 0], help="0: unbounded")
    parser.add_argument("--preset", default=None, help="an agent_env preset for every run (default: ppo_mario's)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "mario_generalization")
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides for every run")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    from concurrent.futures import ThreadPoolExecutor

    def one(levels: int, seed: int) -> None:
        train(args.out, levels, seed, args.steps, args.extra, args.preset)
        final = json.loads((run_dir(args.out, levels, seed) / "result.json").read_text())["final"]
        print(f"levels={levels or 'unbounded':>9} seed={seed}: clear {final.get('clear_rate', 0):.2f} train, "
              f"{final.get('heldout/clear_rate', 0):.2f} held out ({final.get('heldout/procedural/clear_rate', 0):.2f} "
              f"procedural)", flush=True)

    # each run is one process (give it trainer.threads=1 with --jobs 2 on a 2-core machine)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for done in [pool.submit(one, levels, seed) for seed in range(args.seeds) for levels in args.levels]:
            done.result()

    from lab.report import iqm_intervals
    from lab.report import main as report

    report([str(args.out), "--out", str(args.out)])
    import numpy as np

    rows = []
    for levels in args.levels:
        finals = [json.loads((run_dir(args.out, levels, s) / "result.json").read_text())["final"]
                  for s in range(args.seeds)]
        row = {"levels": levels}
        for key in ("clear_rate", "heldout/procedural/clear_rate", "heldout/clear_rate"):
            (iqm,), (low,), (high,) = iqm_intervals(np.array([[f.get(key, np.nan)] for f in finals]))
            row[key] = (float(iqm), float(low), float(high))
        rows.append(row)
    print("\n| training levels | train clear rate | held-out procedural | all held out |\n|---|---|---|---|")
    for r in rows:
        cells = [f"{r[k][0]:.2f} [{r[k][1]:.2f}, {r[k][2]:.2f}]"
                 for k in ("clear_rate", "heldout/procedural/clear_rate", "heldout/clear_rate")]
        print(f"| {r['levels'] or 'unbounded'} | " + " | ".join(cells) + " |")
    _plot(rows, args.out / "generalization.png")
    print(f"\nwrote {args.out / 'report.md'} and {args.out / 'generalization.png'}")
    return 0


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(r["levels"] or "unbounded") for r in rows]
    x = list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for key, name in (("clear_rate", "train"), ("heldout/procedural/clear_rate", "held-out procedural")):
        iqm = [r[key][0] for r in rows]
        ax.plot(x, iqm, marker="o", label=name)
        ax.fill_between(x, [r[key][1] for r in rows], [r[key][2] for r in rows], alpha=0.2)
    ax.set_xticks(x, labels)
    ax.set_xlabel("training levels")
    ax.set_ylabel("clear rate (IQM over seeds, 95% CI)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
