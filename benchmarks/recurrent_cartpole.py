"""Recurrent PPO on CartPole without velocities (issue 16): the lab's `agent=ppo agent.policy=lstm`
(its preset, agent_env/ppo_cartpole_novel.yaml) vs sb3-contrib's RecurrentPPO with rl-zoo's
ppo_lstm preset (`agent=sb3_recurrent_ppo`, agent_env/sb3_recurrent_ppo_cartpole_novel.yaml), and
the lab's feed-forward policy on the same budget (`agent.policy=mlp`), seeds rotating who goes
first, in one run.

    python benchmarks/recurrent_cartpole.py --seeds 3 [--only lab sb3 mlp]

All three run through the lab's trainer to the same rule: evaluate every 5,120 env steps (10
deterministic episodes, the lab's evaluation routine, fixed seeds), stop at the first evaluation
with a mean return >= 475, within rl-zoo's budget of 100,000 steps; SB3 trains one rollout
(8 envs x 32 steps) per tick, so its evaluations fall on the same steps. Reported per contestant:
solved runs, median wall time and env steps to solve, env steps/s, and the final policy's
20-episode return. One torch thread each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vs_sb3 import ROOT, lab_solve_run, summarise, write_results  # noqa: E402

RULE = {"threshold": 475, "episodes": 10, "eval_every": 5120, "budget": 100_000}
CONTESTANTS = {
    "lab": ["agent=ppo", "env=cartpole_novel", "trainer.threads=1", "trainer.video_every=0"],
    "sb3": ["agent=sb3_recurrent_ppo", "env=cartpole_novel", "agent.chunk_steps=256", "trainer.threads=1",
            "trainer.video_every=0"],
    "mlp": ["agent=ppo", "env=cartpole_novel", "agent.policy=mlp", "trainer.threads=1", "trainer.video_every=0"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=sorted(CONTESTANTS), default=sorted(CONTESTANTS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "recurrent_cartpole.json")
    args = parser.parse_args()
    import logging

    import torch

    torch.set_num_threads(1)
    logging.getLogger("lab.messages").disabled = True
    rows: dict[str, list[dict]] = {name: [] for name in args.only}
    for seed in range(args.seeds):
        order = args.only[seed % len(args.only):] + args.only[:seed % len(args.only)]  # rotate who goes first
        for name in order:
            row = lab_solve_run(CONTESTANTS[name], seed, RULE)
            rows[name].append({"seed": seed, **row})
            print(f"{name:4s} seed {seed}: {json.dumps(row)}", flush=True)
    summary = {name: summarise(r) for name, r in rows.items()}
    if "lab" in summary and "sb3" in summary:
        summary["ratio_sb3_over_lab_median_time"] = summary["sb3"]["median_time_s"] / summary["lab"]["median_time_s"]
    import sb3_contrib

    summary["sb3_contrib"] = sb3_contrib.__version__
    write_results(args.out, rows, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
