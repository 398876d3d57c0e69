"""PPO on CartPole-v1: the lab vs stable-baselines3 (rl-baselines3-zoo's tuned hyperparameters).

Both learners run in this one process, seeds alternating (lab seed 0, SB3 seed 0, lab seed 1,
...), one torch thread each, and are measured the same way:

- time to solve: wall-clock seconds from the start of training to the first evaluation whose
  10-episode deterministic mean return is >= 475, evaluation time included;
- env steps to solve, and env steps per second over that span;
- the final (solving) policy's 20-episode deterministic mean return.

Both are evaluated every 5,120 env steps by the same routine (envs/source.py: fixed seeds,
one episode quota per eval env). Start-up (imports, process launch) is reported separately.

    python benchmarks/ppo_cartpole.py --seeds 5
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vs_sb3 import lab_solve_run, run_alternating, sb3_solve_run, write_results  # noqa: E402  (benchmarks/ is the script's path)

ROOT = Path(__file__).resolve().parent.parent
RULE = {"threshold": 475.0, "eval_every": 5120, "episodes": 10, "budget": 100_000}

# rl-baselines3-zoo, hyperparams/ppo.yml, CartPole-v1
ZOO = dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
           learning_rate="lin_0.001", clip_range="lin_0.2", n_timesteps=100_000)


def lab_run(seed: int) -> dict:
    return lab_solve_run(["agent=ppo", "env=cartpole"], seed, RULE)


def sb3_run(seed: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.utils import LinearSchedule

    env = make_vec_env("CartPole-v1", n_envs=ZOO["n_envs"], seed=seed)
    model = PPO("MlpPolicy", env, n_steps=ZOO["n_steps"], batch_size=ZOO["batch_size"], gae_lambda=ZOO["gae_lambda"],
                gamma=ZOO["gamma"], n_epochs=ZOO["n_epochs"], ent_coef=ZOO["ent_coef"],
                learning_rate=LinearSchedule(1e-3, 0.0, 1.0), clip_range=LinearSchedule(0.2, 0.0, 1.0),
                seed=seed, device="cpu", verbose=0)
    return sb3_solve_run(model, "CartPole-v1", seed, {**RULE, "budget": ZOO["n_timesteps"]})


def startup_seconds() -> dict:
    """Process start-up of `python -m lab` (imports, config, env and network construction)."""
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lab", "seed=0", "wandb.mode=disabled", "logger.console=false",
                        f"hydra.run.dir={d}/run"], cwd=ROOT, check=True, capture_output=True)
        total = time.perf_counter() - t
        train_s = json.loads((Path(d) / "run" / "result.json").read_text())["wall_time_s"]
    return {"process_total_s": round(total, 2), "training_s": round(train_s, 2), "startup_s": round(total - train_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "ppo_cartpole.json")
    args = parser.parse_args()
    rows, summary = run_alternating(lab_run, sb3_run, args.seeds)
    summary["startup"] = startup_seconds()
    write_results(args.out, rows, summary)


if __name__ == "__main__":
    main()
