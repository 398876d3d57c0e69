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
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD, EVAL_EVERY, EVAL_EPISODES, BUDGET = 475.0, 5120, 10, 100_000

# rl-baselines3-zoo, hyperparams/ppo.yml, CartPole-v1
ZOO = dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
           learning_rate="lin_0.001", clip_range="lin_0.2", n_timesteps=100_000)


def lab_run(seed: int) -> dict:
    from hydra import compose, initialize_config_dir

    from lab.config import register_configs
    from lab.run import build_source, train

    register_configs()
    overrides = ["agent=ppo", "env=cartpole", f"seed={seed}", "wandb.mode=disabled", "logger.console=false",
                 f"trainer.eval_every={EVAL_EVERY}", f"trainer.stop_return={THRESHOLD}",
                 f"trainer.total_steps={BUDGET}", "trainer.checkpoint_every=0"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    run_dir = Path(tempfile.mkdtemp(prefix="bench_lab_"))
    result = train(cfg, run_dir, overrides=overrides)
    solved = result["status"] == "solved"
    # final 20-episode return of the policy the run ended with (best.pt == the solving policy)
    from lab import checkpoint
    from lab.run import build_learner

    source = build_source(cfg)
    learner = build_learner(cfg, source, torch.device("cpu"))
    learner.load_state_dict(checkpoint.load(run_dir / "checkpoints" / "last.pt")["learner"])
    final20 = source.evaluate(learner.act, 20)["return_mean"]
    source.close()
    return {"solved": solved, "time_s": result["wall_time_s"] if solved else None,
            "steps": result["steps"] if solved else None, "sps": result["steps"] / result["wall_time_s"],
            "final20": final20}


def sb3_run(seed: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.utils import LinearSchedule

    from envs import make_vec
    from envs.source import RLSource

    evaluator = RLSource(lambda n: make_vec("CartPole-v1", n), 1, seed)
    env = make_vec_env("CartPole-v1", n_envs=ZOO["n_envs"], seed=seed)
    model = PPO("MlpPolicy", env, n_steps=ZOO["n_steps"], batch_size=ZOO["batch_size"], gae_lambda=ZOO["gae_lambda"],
                gamma=ZOO["gamma"], n_epochs=ZOO["n_epochs"], ent_coef=ZOO["ent_coef"],
                learning_rate=LinearSchedule(1e-3, 0.0, 1.0), clip_range=LinearSchedule(0.2, 0.0, 1.0),
                seed=seed, device="cpu", verbose=0)
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
    model.learn(total_timesteps=ZOO["n_timesteps"], callback=callback)
    end = time.perf_counter()
    solved = callback.solved_at is not None
    steps = callback.solved_at[0] if solved else model.num_timesteps
    elapsed = (callback.solved_at[1] if solved else end) - start
    final20 = evaluator.evaluate(act, 20)["return_mean"]
    evaluator.close()
    return {"solved": solved, "time_s": elapsed if solved else None, "steps": steps if solved else None,
            "sps": steps / elapsed, "final20": final20}


def startup_seconds() -> dict:
    """Process start-up of `python -m lab` (imports, config, env and network construction)."""
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lab", "seed=0", "wandb.mode=disabled", "logger.console=false",
                        f"hydra.run.dir={d}/run"], cwd=ROOT, check=True, capture_output=True)
        total = time.perf_counter() - t
        train_s = json.loads((Path(d) / "run" / "result.json").read_text())["wall_time_s"]
    return {"process_total_s": round(total, 2), "training_s": round(train_s, 2), "startup_s": round(total - train_s, 2)}


def summarise(rows: list[dict]) -> dict:
    times = [r["time_s"] if r["solved"] else float("inf") for r in rows]
    solved = [r for r in rows if r["solved"]]
    return {"solved": f"{len(solved)}/{len(rows)}", "median_time_s": statistics.median(times),
            "median_steps": statistics.median([r["steps"] for r in solved]) if solved else None,
            "median_sps": statistics.median([r["sps"] for r in rows]),
            "mean_final20": float(np.mean([r["final20"] for r in rows]))}


def run_alternating(lab_run, sb3_run, seeds: int) -> tuple[dict[str, list[dict]], dict]:
    """Both learners on seeds 0..seeds-1, alternating who runs first; rows and their summary.
    Shared with benchmarks/dqn_cartpole.py."""
    rows: dict[str, list[dict]] = {"lab": [], "sb3": []}
    for seed in range(seeds):
        order = ("lab", "sb3") if seed % 2 == 0 else ("sb3", "lab")  # alternate who runs first
        for name in order:
            row = (lab_run if name == "lab" else sb3_run)(seed)
            rows[name].append({"seed": seed, **row})
            print(f"{name:4s} seed {seed}: {row}", flush=True)
    summary = {name: summarise(r) for name, r in rows.items()}
    summary["ratio_sb3_over_lab_median_time"] = summary["sb3"]["median_time_s"] / summary["lab"]["median_time_s"]
    return rows, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "ppo_cartpole.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the first Adam imports torch._dynamo: start-up
    import logging

    logging.getLogger("lab.messages").disabled = True
    rows, summary = run_alternating(lab_run, sb3_run, args.seeds)
    summary["startup"] = startup_seconds()
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
