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
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from ppo_cartpole import run_alternating  # noqa: E402  (benchmarks/ is the script's path)

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD, EVAL_EVERY, EVAL_EPISODES, BUDGET = 475.0, 2048, 10, 100_000

# rl-baselines3-zoo, hyperparams/dqn.yml, CartPole-v1 (n_timesteps 5e4: exploration_fraction 0.16
# of it is 8k steps, i.e. 0.08 of the 100k budget used here)
ZOO = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
           target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
           exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]), n_timesteps=50_000)


def lab_run(seed: int) -> dict:
    from hydra import compose, initialize_config_dir

    from lab import checkpoint
    from lab.config import register_configs
    from lab.run import build_learner, build_source, train

    register_configs()
    overrides = ["agent=dqn", "env=cartpole", f"seed={seed}", "wandb.mode=disabled", "logger.console=false",
                 f"trainer.eval_every={EVAL_EVERY}", f"trainer.eval_episodes={EVAL_EPISODES}",
                 f"trainer.stop_return={THRESHOLD}", f"trainer.total_steps={BUDGET}", "trainer.checkpoint_every=0"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    run_dir = Path(tempfile.mkdtemp(prefix="bench_lab_dqn_"))
    result = train(cfg, run_dir, overrides=overrides)
    solved = result["status"] == "solved"
    # final 20-episode return of the policy the run ended with (the solving policy when solved)
    source = build_source(cfg)
    learner = build_learner(cfg, source, torch.device("cpu"))
    learner.load_state_dict(checkpoint.load(run_dir / "checkpoints" / "last.pt")["learner"])
    final20 = source.evaluate(learner.act, 20)["return_mean"]
    source.close()
    return {"solved": solved, "time_s": result["wall_time_s"] if solved else None,
            "steps": result["steps"] if solved else None, "sps": result["steps"] / result["wall_time_s"],
            "final20": final20}


def sb3_run(seed: int) -> dict:
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from envs import make_vec
    from envs.source import RLSource

    evaluator = RLSource(lambda n: make_vec("CartPole-v1", n), 1, seed)
    env = make_vec_env("CartPole-v1", n_envs=1, seed=seed)
    hyper = {k: v for k, v in ZOO.items() if k != "n_timesteps"}
    hyper["exploration_fraction"] = ZOO["exploration_fraction"] * ZOO["n_timesteps"] / BUDGET
    model = DQN("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **hyper)
    act = lambda obs: model.predict(obs, deterministic=True)[0]

    class EvalStop(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval, self.solved_at, self.last = EVAL_EVERY, None, None

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                self.next_eval += EVAL_EVERY
                self.last = evaluator.evaluate(act, EVAL_EPISODES)["return_mean"]
                if self.last >= THRESHOLD:
                    self.solved_at = (self.num_timesteps, time.perf_counter())
                    return False
            return True

    callback = EvalStop()
    start = time.perf_counter()
    model.learn(total_timesteps=BUDGET, callback=callback)
    end = time.perf_counter()
    solved = callback.solved_at is not None
    steps = callback.solved_at[0] if solved else model.num_timesteps
    elapsed = (callback.solved_at[1] if solved else end) - start
    final20 = evaluator.evaluate(act, 20)["return_mean"]
    evaluator.close()
    return {"solved": solved, "time_s": elapsed if solved else None, "steps": steps if solved else None,
            "sps": steps / elapsed, "final20": final20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "dqn_cartpole.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the first Adam imports torch._dynamo: start-up
    import logging

    logging.getLogger("lab.messages").disabled = True
    rows, summary = run_alternating(lab_run, sb3_run, args.seeds)
    import gymnasium
    import stable_baselines3

    summary["versions"] = {"python": platform.python_version(), "torch": torch.__version__,
                           "gymnasium": gymnasium.__version__, "stable_baselines3": stable_baselines3.__version__,
                           "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
