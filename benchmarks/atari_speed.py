"""Env steps per second of the Atari pipeline (env=atari, envs/atari.py), random policy, and of
the lab's DQN and PPO end to end on it.

- one preprocessed env (ALE frameskip 1 + AtariPreprocessing + TrainingSignals + FrameStack),
  stepped directly;
- the vector envs the lab trains on, N=8: SyncVectorEnv and AsyncVectorEnv (one process per
  sub-env), NEXT_STEP autoreset;
- for reference, ale-py's own C++ vector env (ale_py.vector_env.AtariVectorEnv, same
  preprocessing, threads), which env=atari does not use (it reports clipped rewards only);
- the lab's DQN (`dqn_atari` preset, 1 env, one update of batch 32 per 4 steps) and PPO
  (`ppo_atari`, 8 envs x 128 steps, 4 epochs x 4 minibatches) for a short run each: the
  training rate of the logged windows after learning starts, evaluation excluded.

Each env figure is the best of --repeats timed runs (the machine is shared), steps counted as
agent steps (4 frames each).

    python benchmarks/atari_speed.py --game ALE/Pong-v5
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = dict(noop_max=30, frame_skip=4, screen_size=84, grayscale=True, frame_stack=4,
                terminal_on_life_loss=True, clip_reward=True, repeat_action_probability=0.25)


def time_vector(env, steps: int, repeats: int) -> float:
    """Env steps/s of a vector env under uniformly random actions (best of `repeats`)."""
    rng = np.random.default_rng(0)
    n = env.num_envs
    env.reset(seed=0)
    for _ in range(20):  # warm-up
        env.step(rng.integers(env.single_action_space.n, size=n))
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps // n):
            env.step(rng.integers(env.single_action_space.n, size=n))
        best = max(best, (steps // n) * n / (time.perf_counter() - t))
    env.close()
    return best


def time_single(game: str, steps: int, repeats: int) -> float:
    from envs.atari import make_atari

    env = make_atari(game, **SETTINGS)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            if terminated or truncated:
                env.reset()
        best = max(best, steps / (time.perf_counter() - t))
    env.close()
    return best


def learner_sps(agent: str, game: str, steps: int, overrides: list[str]) -> dict:
    """Training env steps/s of a short `python -m lab agent=AGENT env=atari` run, in-process."""
    from hydra import compose, initialize_config_dir

    from lab.config import register_configs
    from lab.run import train

    register_configs()
    args = [f"agent={agent}", "env=atari", f"env.id={game}", "wandb.mode=disabled", "logger.console=false",
            f"trainer.total_steps={steps}", "trainer.eval_every=0", "env.eval_episodes=1",
            "trainer.checkpoint_every=0", "env.max_episode_steps=100", *overrides]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=args)
    run_dir = Path(tempfile.mkdtemp(prefix=f"bench_atari_{agent}_"))
    train(cfg, run_dir, overrides=args)
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rates = [x["perf/steps_per_s"] for x in lines[1:] if "eval/return_mean" not in x]  # the first: start-up
    return {"steps": steps, "overrides": overrides, "steps_per_s": statistics.median(rates),
            "windows": len(rates)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="ALE/Pong-v5")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4000, help="env steps per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-learners", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "atari_speed.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    import logging

    logging.getLogger("lab.messages").disabled = True
    from envs import make_vec

    N, out = args.num_envs, {}
    out["single_env"] = time_single(args.game, args.steps // 2, args.repeats)
    print("single env", out["single_env"], flush=True)
    for mode in ("sync", "async"):
        env = make_vec(args.game, N, vectorization=mode, kwargs=SETTINGS)
        out[f"{mode}_N{N}"] = time_vector(env, args.steps, args.repeats)
        print(mode, out[f"{mode}_N{N}"], flush=True)
    from ale_py.vector_env import AtariVectorEnv

    game = args.game.split("/")[1].split("-")[0]
    game = "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(game))
    for threads in (1, 2):
        native = AtariVectorEnv(game, N, num_threads=threads, repeat_action_probability=0.25, noop_max=30,
                                episodic_life=False, reward_clipping=False)
        out[f"ale_native_N{N}_threads{threads}"] = time_vector(native, args.steps, args.repeats)
        print("ale native", threads, out[f"ale_native_N{N}_threads{threads}"], flush=True)
    if not args.no_learners:
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # start-up, not training
        out["lab_dqn"] = learner_sps("dqn", args.game, 1500, ["agent.learning_starts=500", "trainer.log_every=250"])
        print("dqn", out["lab_dqn"], flush=True)
        out["lab_ppo"] = learner_sps("ppo", args.game, 5120, ["trainer.log_every=1024"])
        print("ppo", out["lab_ppo"], flush=True)
    import ale_py
    import cv2
    import gymnasium

    out["versions"] = {"python": platform.python_version(), "torch": torch.__version__,
                       "gymnasium": gymnasium.__version__, "ale_py": ale_py.__version__, "opencv": cv2.__version__,
                       "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                       "load_avg_at_end": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
