"""DQN on CartPole-v1: the lab vs stable-baselines3 (rl-baselines3-zoo's tuned hyperparameters).

Both learners run in this one process, seeds alternating (lab seed 0, SB3 seed 0, SB3 seed 1,
lab seed 1, ...), one torch thread each, and are measured the same way (as
benchmarks/ppo_cartpole.py does for PPO):

- time to solve: wall-clock seconds from the start of training to the first evaluation whose
  10-episode deterministic mean return is >= 475, evaluation time included;
- env steps to solve, and env steps per second over that span;
- the final (solving) policy's 20-episode deterministic mean return.

Both are evaluated every 2,048 env steps by the same routine (envs/source.py: fixed seeds, one
episode quota per eval env), within the same 100k-step budget. The lab runs its `dqn_cartpole`
preset (`agent=dqn env=cartpole`); SB3 runs the zoo's CartPole-v1 DQN settings, with the
exploration fraction rescaled to the 100k budget so epsilon decays over the zoo's 8k steps.

    python benchmarks/dqn_cartpole.py --seeds 3
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
from pathlib import Path

from vs_sb3 import lab_solve_run, run_alternating, sb3_solve_run, write_results  # noqa: E402  (benchmarks/ is the script's path)

ROOT = Path(__file__).resolve().parent.parent
RULE = {"threshold": 475.0, "eval_every": 2048, "episodes": 10, "budget": 100_000}

# rl-baselines3-zoo, hyperparams/dqn.yml, CartPole-v1 (n_timesteps 5e4: exploration_fraction 0.16
# of it is 8k steps, i.e. 0.08 of the 100k budget used here)
ZOO = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
           target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
           exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]), n_timesteps=50_000)


def lab_run(seed: int) -> dict:
    return lab_solve_run(["agent=dqn", "env=cartpole"], seed, RULE)


def sb3_run(seed: int) -> dict:
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=1, seed=seed)
    hyper = {k: v for k, v in ZOO.items() if k != "n_timesteps"}
    hyper["exploration_fraction"] = ZOO["exploration_fraction"] * ZOO["n_timesteps"] / RULE["budget"]
    model = DQN("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **hyper)
    return sb3_solve_run(model, "CartPole-v1", seed, RULE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "dqn_cartpole.json")
    args = parser.parse_args()
    rows, summary = run_alternating(lab_run, sb3_run, args.seeds)
    write_results(args.out, rows, summary)


if __name__ == "__main__":
    main()
