"""PPO on the built-in Mario-like game: train `python -m lab agent=ppo env=mario` for some seeds,
then measure how often the trained policy reaches the flag (`info["flag_get"]`), which the lab's
evaluation (returns only) does not report.

For each seed: training wall time, steps, mean perf/steps_per_s (metrics.jsonl), the lab's own
final evaluation, the first evaluation that cleared the level, and the flag rate over 20 episodes with deterministic (argmax, the lab's
evaluation) and stochastic (sampled) actions, on the eval seeds the lab uses.

    python benchmarks/mario_ppo.py                          # seeds 0 1 2, the ppo_mario preset
    python benchmarks/mario_ppo.py --seeds 0 --extra trainer.total_steps=1000000 env.level=pits
    python benchmarks/mario_ppo.py --eval runs/2025-01-01/12-00-00_ppo_mario   # an existing run
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def flag_rate(source, act, episodes: int, seed: int) -> dict[str, float]:
    """One episode on each of `episodes` fresh games (seeds seed, seed+1, ...): the fraction that
    reach the flag, mean return, mean furthest x and mean length."""
    env = source.make_env(episodes)
    obs, _ = env.reset(seed=seed)
    done = np.zeros(episodes, dtype=bool)
    flag = np.zeros(episodes, dtype=bool)
    ret = np.zeros(episodes)
    length = np.zeros(episodes, dtype=np.int64)
    max_x = np.zeros(episodes)
    while not done.all():
        obs, reward, terminated, truncated, info = env.step(act(obs))
        live = ~done
        ret += np.where(live, reward, 0.0)
        length += live
        max_x = np.where(live, np.maximum(max_x, info["x_pos"]), max_x)
        flag |= live & info["flag_get"]
        done |= terminated | truncated
    env.close()
    return {"flag_rate": float(flag.mean()), "return": float(ret.mean()), "max_x": float(max_x.mean()),
            "length": float(length.mean())}


def evaluate_run(run_dir: Path, checkpoint: str = "last", episodes: int = 20) -> dict[str, dict[str, float]]:
    import torch

    from lab.watch import open_run, rebuild

    run = open_run(str(run_dir), checkpoint)
    source, learner, _ = rebuild(run, device="cpu")
    eval_seed = source.eval_seed
    out = {}
    for mode, deterministic in (("deterministic", True), ("stochastic", False)):
        torch.manual_seed(0)
        out[mode] = flag_rate(source, lambda o: learner.act(o, deterministic=deterministic), episodes, eval_seed)
    source.close()
    return out


def perf(run_dir: Path) -> dict[str, float]:
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [l["perf/steps_per_s"] for l in lines if "perf/steps_per_s" in l and "eval/return_mean" not in l]
    result = json.loads((run_dir / "result.json").read_text())
    curve = [(l["step"], round(l["eval/return_mean"], 1)) for l in lines if "eval/return_mean" in l]
    return {"steps": result["steps"], "wall_time_s": result["wall_time_s"],
            "steps_per_s_end_to_end": result["steps"] / result["wall_time_s"],
            "median_tick_steps_per_s": float(np.median(rates)) if rates else float("nan"),
            "eval_return_final": result["final"].get("return_mean"), "eval_curve": curve}


def train_seed(agent: str, seed: int, extra: list[str], out_dir: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import train

    run_dir = out_dir / f"seed{seed}"
    train([f"agent={agent}", "env=mario", f"seed={seed}", *extra], run_dir)
    return run_dir


def first_clear(run_dir: Path, threshold: float = 1820.0) -> int | None:
    """The first evaluation step whose return needs the flag (see tests/test_mario_ppo.py)."""
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("eval/return_mean", -1e9) >= threshold:
            return int(row["step"])
    return None


def main(agent: str = "ppo", doc: str = __doc__) -> None:
    """The command line of this script and of benchmarks/dqn_mario.py (agent=dqn)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides, e.g. trainer.total_steps=1000000")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="keep the run directories here")
    parser.add_argument("--eval", type=Path, nargs="*", default=None, help="only evaluate these run directories")
    parser.add_argument("--checkpoint", default="last", help="last or best")
    args = parser.parse_args()

    if args.eval:
        for run_dir in args.eval:
            print(run_dir, json.dumps(evaluate_run(run_dir, args.checkpoint, args.episodes)))
        return
    out_dir = args.out or Path(tempfile.mkdtemp(prefix=f"mario_{agent}_"))
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        run_dir = train_seed(agent, seed, args.extra, out_dir)
        total = time.perf_counter() - t0
        row = {"seed": seed, "total_s_with_startup": round(total, 1), **perf(run_dir),
               "first_clear_step": first_clear(run_dir), **evaluate_run(run_dir, args.checkpoint, args.episodes)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\nagent={agent} env=mario {' '.join(args.extra)}  (runs in {out_dir})")
    print(f"{'seed':>4s} {'steps':>9s} {'train s':>8s} {'steps/s':>8s} {'eval ret':>8s} {'1st clear':>9s} "
          f"{'flag det':>8s} {'flag sto':>8s} {'x det':>6s}")
    for r in rows:
        clear = f"{r['first_clear_step']:,d}" if r["first_clear_step"] is not None else "-"
        print(f"{r['seed']:4d} {r['steps']:9,d} {r['wall_time_s']:8.1f} {r['steps_per_s_end_to_end']:8,.0f} "
              f"{r['eval_return_final']:8.1f} {clear:>9s} {r['deterministic']['flag_rate']:8.2f} "
              f"{r['stochastic']['flag_rate']:8.2f} {r['deterministic']['max_x']:6.0f}")


if __name__ == "__main__":
    main()
