"""Start-up: the wall time of `python -m lab agent=ppo env=cartpole`, this checkout beside an
earlier commit, in one run (issue 14: under 2.5 s on an idle machine without slowing training).

    python benchmarks/startup.py --before a321a23 --repeats 7

Each command runs alternately for both versions (a git worktree of --before, on PYTHONPATH), with
W&B disabled and with the default (offline: no credentials here), into a scratch run directory.
Reported per version and mode: the median wall time of the whole command, the training time the
run prints ("solved: N steps in X s") and its steps (a run stops once it solves CartPole, so its
length depends on the seed's draws), and the rest (start-up: imports, config, building, W&B).
Training speed is measured apart, at a fixed budget (`trainer.total_steps=51200
trainer.eval_every=0`: no early stop), as env steps per second of training.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ["agent=ppo", "env=cartpole"]


FIXED = ["trainer.total_steps=51200", "trainer.eval_every=0", "trainer.video_every=0"]


def run_once(tree: Path, mode: str | None, out: Path, extra: list[str] = ()) -> tuple[float, float, int]:
    args = [sys.executable, "-m", "lab", *COMMAND, *extra, f"hydra.run.dir={out}"]
    if mode is not None:
        args.append(f"wandb.mode={mode}")
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_API_KEY", "WANDB_MODE")}
    env["PYTHONPATH"] = str(tree)
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=out.parent, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(args[3:])} failed:\n{proc.stderr[-2000:]}")
    m = re.search(r"(?:solved|completed): ([\d,]+) steps in ([\d.]+) s", proc.stdout + proc.stderr)
    if not m:
        raise SystemExit(f"{tree}: no end-of-run line in\n{(proc.stdout + proc.stderr)[-2000:]}")
    return wall, float(m.group(2)), int(m.group(1).replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit to compare with (e.g. a321a23)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="lab-startup-"))
    before = scratch / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(before), args.before], check=True)
    try:
        trees = {f"before ({args.before})": before, "after (this checkout)": ROOT}
        results: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
        speed: dict[str, list[float]] = {}
        for i in range(args.repeats):
            for name, tree in trees.items():
                for mode in ("disabled", None):
                    out = scratch / f"run_{i}_{mode}_{name[:5]}"
                    results.setdefault((name, mode or "default (offline)"), []).append(run_once(tree, mode, out))
                _, seconds, steps = run_once(tree, "disabled", scratch / f"fixed_{i}_{name[:5]}", FIXED)
                speed.setdefault(name, []).append(steps / seconds)
        print(f"python -m lab {' '.join(COMMAND)}: medians of {args.repeats} runs, alternating versions "
              f"(load average at the end: {os.getloadavg()[0]:.2f})\n")
        print("| version | W&B | wall (s) | training (s) | steps | the rest (s) |")
        print("|---|---|---|---|---|---|")
        for (name, mode), rows in results.items():
            wall = statistics.median(r[0] for r in rows)
            train = statistics.median(r[1] for r in rows)
            steps = statistics.median(r[2] for r in rows)
            print(f"| {name} | {mode} | {wall:.2f} | {train:.2f} | {steps:,.0f} | {wall - train:.2f} |")
        print(f"\ntraining speed at a fixed budget ({' '.join(FIXED[:2])}), env steps/s of training, median:")
        for name, rates in speed.items():
            print(f"- {name}: {statistics.median(rates):,.0f} (runs: {', '.join(f'{r:,.0f}' for r in rates)})")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
