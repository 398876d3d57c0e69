"""DQN on the built-in Mario-like game: train `python -m lab agent=dqn env=mario` for some seeds,
then measure how often the trained (greedy) policy reaches the flag (`info["flag_get"]`), which the
lab's evaluation (returns only) does not report. The helpers are benchmarks/mario_ppo.py's.

For each seed: training wall time, steps, env steps/s (end to end and the median of the logged
ticks), the lab's own final evaluation, and the flag rate over 20 episodes with deterministic
(greedy, the lab's evaluation) and stochastic (epsilon-greedy at the final epsilon) actions. Without
sticky actions the game is deterministic, so the 20 greedy episodes are one episode 20 times.

    python benchmarks/dqn_mario.py                          # seeds 0 1 2, the dqn_mario preset
    python benchmarks/dqn_mario.py --seeds 0 --extra trainer.total_steps=300000 agent.lr=1e-3
    python benchmarks/dqn_mario.py --eval runs/2025-01-01/12-00-00_dqn_mario   # an existing run
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from mario_ppo import evaluate_run, perf  # noqa: E402


def train_seed(seed: int, extra: list[str], out_dir: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import train

    run_dir = out_dir / f"seed{seed}"
    train(["agent=dqn", "env=mario", f"seed={seed}", *extra], run_dir)
    return run_dir


def first_clear(run_dir: Path, threshold: float = 1820.0) -> int | None:
    """The first evaluation step whose return needs the flag (see tests/test_mario_ppo.py)."""
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("eval/return_mean", -1e9) >= threshold:
            return int(row["step"])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides, e.g. trainer.total_steps=300000")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="keep the run directories here")
    parser.add_argument("--eval", type=Path, nargs="*", default=None, help="only evaluate these run directories")
    parser.add_argument("--checkpoint", default="last", help="last or best")
    args = parser.parse_args()

    if args.eval:
        for run_dir in args.eval:
            print(run_dir, json.dumps(evaluate_run(run_dir, args.checkpoint, args.episodes)))
        return
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="mario_dqn_"))
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        run_dir = train_seed(seed, args.extra, out_dir)
        total = time.perf_counter() - t0
        row = {"seed": seed, "total_s_with_startup": round(total, 1), **perf(run_dir),
               "first_clear_step": first_clear(run_dir), **evaluate_run(run_dir, args.checkpoint, args.episodes)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\nagent=dqn env=mario {' '.join(args.extra)}  (runs in {out_dir})")
    print(f"{'seed':>4s} {'steps':>9s} {'train s':>8s} {'steps/s':>8s} {'eval ret':>8s} {'1st clear':>9s} "
          f"{'flag det':>8s} {'flag sto':>8s} {'x det':>6s}")
    for r in rows:
        clear = f"{r['first_clear_step']:,d}" if r["first_clear_step"] is not None else "-"
        print(f"{r['seed']:4d} {r['steps']:9,d} {r['wall_time_s']:8.1f} {r['steps_per_s_end_to_end']:8,.0f} "
              f"{r['eval_return_final']:8.1f} {clear:>9s} {r['deterministic']['flag_rate']:8.2f} "
              f"{r['stochastic']['flag_rate']:8.2f} {r['deterministic']['max_x']:6.0f}")


if __name__ == "__main__":
    main()
