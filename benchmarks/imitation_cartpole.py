"""Imitation on CartPole-v1 (issue 18): the lab's GAIL and BC vs the `imitation` library's GAIL, from
the same 10 episodes of a lab PPO expert, seeds alternating in one run.

    python benchmarks/imitation_cartpole.py --imitation-python /path/to/imitation-venv/bin/python \
        [--seeds 3] [--peer-steps 500000] [--out benchmarks/out/imitation_cartpole]

The expert: `python -m lab agent=ppo env=cartpole seed=0`; its demos: `python -m lab.demos EXPERT
--episodes 10`. Per seed: `python -m lab agent=gail env=cartpole agent.demos=...` (the preset
gail_cartpole: stops at the first 20-episode eval >= 475, 200k-step budget), `python -m lab agent=bc
env=cartpole ...` (bc_cartpole), then the library's tutorial GAIL (benchmarks/imitation_peer.py, in
the library's own environment: it pins gymnasium 0.29 and stable-baselines3 2.2). Reported per run:
env steps and training wall time to the first eval >= 475 and the final eval. The lab's wall time is
its trainer's (evaluations included); the peer's excludes its evaluations (both favour the peer).
Without --imitation-python only the lab's runs are made.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def lab(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "lab", *args, "wandb.mode=disabled", "trainer.threads=1",
                           "trainer.video_every=0"], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"python -m lab {' '.join(args)}: {proc.stderr[-1500:]}")


def lab_run(out: Path, agent: str, demos: Path, seed: int) -> dict:
    where = out / f"{agent}_seed{seed}"
    if not (where / "result.json").exists():
        lab([f"agent={agent}", "env=cartpole", f"agent.demos={demos}", f"seed={seed}", f"hydra.run.dir={where}"])
    r = json.loads((where / "result.json").read_text())
    evals = [json.loads(l) for l in (where / "metrics.jsonl").read_text().splitlines()]
    evals = [(e["step"], e["eval/return_mean"], e["time_s"]) for e in evals if "eval/return_mean" in e]
    hit = next(((s, t) for s, m, t in evals if m >= 475), None)
    return {"who": f"lab {agent}", "seed": seed, "reached_steps": hit[0] if hit else None,
            "reached_s": hit[1] if hit else None, "final": r["final"]["return_mean"], "steps": r["steps"]}


def peer_run(out: Path, python: str, demos: Path, seed: int, steps: int) -> dict:
    where = out / f"imitation_gail_seed{seed}.json"
    if not where.exists():
        proc = subprocess.run([python, str(ROOT / "benchmarks" / "imitation_peer.py"), str(demos), "--seed", str(seed),
                               "--steps", str(steps)], capture_output=True, text=True,
                              env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        if proc.returncode != 0:
            raise SystemExit(f"imitation_peer.py seed {seed}: {proc.stderr[-1500:]}")
        where.write_text(proc.stdout.strip().splitlines()[-1])
    r = json.loads(where.read_text())
    reached = r["reached"] or {}
    return {"who": "imitation GAIL", "seed": seed, "reached_steps": reached.get("steps"),
            "reached_s": reached.get("train_s"), "final": r["final"], "steps": r["steps"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--imitation-python", default=None, help="a python with `imitation` installed")
    p.add_argument("--peer-steps", type=int, default=500_000)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "imitation_cartpole")
    args = p.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    expert, demos = out / "expert", out / f"demos{args.episodes}.npz"
    if not (expert / "result.json").exists():
        lab(["agent=ppo", "env=cartpole", "seed=0", f"hydra.run.dir={expert}"])
    if not demos.exists():
        proc = subprocess.run([sys.executable, "-m", "lab.demos", str(expert), "--episodes", str(args.episodes),
                               "--out", str(demos)], cwd=ROOT, env=ENV, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        print(proc.stdout.strip())
    rows = []
    for seed in range(args.seeds):  # alternating: the machine's load hits every learner alike
        rows.append(lab_run(out, "gail", demos, seed))
        rows.append(lab_run(out, "bc", demos, seed))
        if args.imitation_python:
            rows.append(peer_run(out, args.imitation_python, demos, seed, args.peer_steps))
        for r in rows[-3:]:
            print(json.dumps(r))
    print("\n| learner | seed | steps to eval >= 475 | wall s to it | final eval | steps run |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        fmt = lambda v, f: "not reached" if v is None else format(v, f)
        print(f"| {r['who']} | {r['seed']} | {fmt(r['reached_steps'], ',')} | {fmt(r['reached_s'], '.2f')} | "
              f"{r['final']:.1f} | {r['steps']:,} |")
    print()
    for who in dict.fromkeys(r["who"] for r in rows):
        mine = [r for r in rows if r["who"] == who]
        hit = [r for r in mine if r["reached_s"] is not None]
        med = statistics.median(r["reached_s"] for r in hit) if hit else None
        meds = statistics.median(r["reached_steps"] for r in hit) if hit else None
        print(f"{who}: reached 475 on {len(hit)} of {len(mine)} seeds; median {meds if meds is None else f'{meds:,.0f}'} "
              f"steps, {med if med is None else f'{med:.2f}'} s")
    (out / "rows.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
