"""Recurrent PPO on CartPole without velocities (issue 16): the lab's `agent=ppo agent.policy=lstm`
(its preset, agent_env/ppo_cartpole_novel.yaml) vs sb3-contrib's RecurrentPPO with rl-zoo's
ppo_lstm preset (`agent=sb3_recurrent_ppo`, agent_env/sb3_recurrent_ppo_cartpole_novel.yaml), and
the lab's feed-forward policy on the same budget (`agent.policy=mlp`), in one run: per seed the
lab first, then the other two in rotating order.

    python benchmarks/recurrent_cartpole.py --seeds 3 [--only lab sb3 mlp] [--cap-factor 10 | --cap-s S]

All three run through the lab's trainer to the same rule: evaluate every 5,120 env steps (10
deterministic episodes, the lab's evaluation routine, fixed seeds), stop at the first evaluation
with a mean return >= 475, within rl-zoo's budget of 100,000 steps; SB3 trains one rollout
(8 envs x 32 steps) per tick, so its evaluations fall on the same steps. Reported per contestant:
solved runs, median wall time and env steps to solve, env steps/s, and the final policy's
20-episode return. One torch thread each.

A cap keeps the run bounded (sb3-contrib's RecurrentPPO is several times slower per env step than
the lab's LSTM, and was once measured at tens of env steps/s here): sb3 and mlp stop
(trainer.time_limit_min, checked after each tick, so a little past the cap) once their training
wall time passes `--cap-factor` x the median of the lab's times so far in this run (its wall time
where it did not solve), or a fixed `--cap-s`. A run stopped there is "not solved by T s": its time
to solve is more than T, so a median with such runs in it is a lower bound, and so is the ratio
(">= X"). `--cap-factor 0`: no cap.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import statistics  # noqa: E402

from vs_sb3 import ROOT, lab_solve_run, summarise, write_results  # noqa: E402

RULE = {"threshold": 475, "episodes": 10, "eval_every": 5120, "budget": 100_000}
CONTESTANTS = {
    "lab": ["agent=ppo", "env=cartpole_novel", "trainer.threads=1", "trainer.video_every=0"],
    "sb3": ["agent=sb3_recurrent_ppo", "env=cartpole_novel", "agent.chunk_steps=256", "trainer.threads=1",
            "trainer.video_every=0"],
    "mlp": ["agent=ppo", "env=cartpole_novel", "agent.policy=mlp", "trainer.threads=1", "trainer.video_every=0"],
}


def time_bounds(rows: list[dict]) -> tuple[float, float]:
    """The median time to solve, bounded: below by counting an unsolved run at the wall time it
    stopped at, above by counting it as never solved (equal when the unsolved runs don't matter)."""
    lower = statistics.median(r["time_s"] if r["solved"] else r["wall_s"] for r in rows)
    upper = statistics.median(r["time_s"] if r["solved"] else float("inf") for r in rows)
    return lower, upper


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=sorted(CONTESTANTS), default=sorted(CONTESTANTS))
    parser.add_argument("--cap-factor", type=float, default=10.0,
                        help="stop sb3 and mlp past this many times the lab's median time so far (0: no cap)")
    parser.add_argument("--cap-s", type=float, default=None, help="a fixed cap in seconds instead")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "recurrent_cartpole.json")
    args = parser.parse_args()
    import logging

    import torch

    torch.set_num_threads(1)
    logging.getLogger("lab.messages").disabled = True
    rows: dict[str, list[dict]] = {name: [] for name in args.only}
    others = [name for name in args.only if name != "lab"]
    for seed in range(args.seeds):
        k = seed % len(others) if others else 0
        order = (["lab"] if "lab" in args.only else []) + others[k:] + others[:k]  # the lab first: the cap
        for name in order:
            cap = args.cap_s
            if cap is None and name != "lab" and args.cap_factor and rows.get("lab"):
                cap = args.cap_factor * time_bounds(rows["lab"])[0]
            row = lab_solve_run(CONTESTANTS[name], seed, RULE, time_limit_s=None if name == "lab" else cap)
            rows[name].append({"seed": seed, "cap_s": None if name == "lab" else cap, **row})
            print(f"{name:4s} seed {seed}: {json.dumps(rows[name][-1])}", flush=True)
    summary: dict = {}
    for name, r in rows.items():
        lower, upper = time_bounds(r)
        summary[name] = {**summarise(r), "median_time_s_lower_bound": lower,
                         "median_time_is_lower_bound": lower != upper}
    if "lab" in summary and "sb3" in summary:
        lab_lower, lab_upper = time_bounds(rows["lab"])
        sb3_lower, sb3_upper = time_bounds(rows["sb3"])
        summary["ratio_sb3_over_lab_median_time"] = sb3_lower / lab_upper  # exact when both medians are
        summary["ratio_is_lower_bound"] = sb3_lower != sb3_upper or lab_lower != lab_upper
        summary["bar_ratio_at_least_5"] = summary["ratio_sb3_over_lab_median_time"] >= 5
    import sb3_contrib

    summary["sb3_contrib"] = sb3_contrib.__version__
    summary["cap"] = {"cap_s": args.cap_s} if args.cap_s is not None else {"cap_factor": args.cap_factor}
    write_results(args.out, rows, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
