"""Training speed on level distributions vs one level (issue 15): PPO end to end (the ppo_mario preset,
grid observations, 256 envs) on `env.level=intro`, on 1,000 procedural levels, and on unbounded
procedural levels (a new level joins the pool every `env.level_episodes` resets), in one run, the
configurations alternating over repeats. Each procedural run starts with an empty level cache (its own
LAB_LEVEL_CACHE), so the numbers include generating and proving every level it plays.

    python benchmarks/mario_levels_speed.py [--repeats 3] [--steps 1000000] [--threads 1]

Reported per configuration: median env steps/s (steps / training wall time, evaluations off) and the
ratio to one-level training; the issue's bar: unbounded >= 90% of one level and >= 100,000 steps/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFIGS = {
    "intro": ["env.level=intro"],
    "procedural_1000": ["env.level=procedural", "env.train_levels=1000", "env.difficulty=0.5"],
    "unbounded": ["env.level=procedural", "env.train_levels=0", "env.difficulty=0.5"],
}


def one_run(name: str, steps: int, threads: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="lab-speed-") as tmp:
        args = ["agent=ppo", "env=mario", *CONFIGS[name], f"trainer.total_steps={steps}", "trainer.eval_every=0",
                "trainer.checkpoint_every=0", "trainer.video_every=0", f"trainer.threads={threads}",
                f"seed={seed}", "wandb.mode=disabled", f"hydra.run.dir={tmp}/run"]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LAB_LEVEL_CACHE": f"{tmp}/levels"}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{name}: {proc.stderr[-2000:]}")
        result = json.loads((Path(tmp) / "run" / "result.json").read_text())
    return {"steps": result["steps"], "train_s": result["wall_time_s"], "wall_s": wall,
            "sps": result["steps"] / result["wall_time_s"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {name: [] for name in args.only}
    for rep in range(args.repeats):
        order = args.only[rep % len(args.only):] + args.only[:rep % len(args.only)]
        for name in order:
            row = one_run(name, args.steps, args.threads, rep)
            rows[name].append(row)
            print(f"{name:16s} repeat {rep}: {json.dumps(row)}", flush=True)
    base = statistics.median(r["sps"] for r in rows["intro"]) if "intro" in rows else None
    print("\n| levels | median env steps/s | vs one level |\n|---|---:|---:|")
    for name, rs in rows.items():
        sps = statistics.median(r["sps"] for r in rs)
        print(f"| {name} | {sps:,.0f} | {sps / base:.2f} |" if base else f"| {name} | {sps:,.0f} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
