"""The `imitation` library's GAIL (HumanCompatibleAI) on CartPole-v1 from a lab demos file: the peer
of benchmarks/imitation_cartpole.py, run in the library's own environment (its pins: gymnasium
0.29, stable-baselines3 2.2) by that script:

    /path/to/imitation-venv/bin/python benchmarks/imitation_peer.py DEMOS.npz --seed 0 --steps 500000

Hyperparameters are the library's GAIL tutorial's (docs/tutorials/3_train_gail): 8 envs, SB3 PPO
(MlpPolicy, batch 64, lr 4e-4, gamma 0.95, 5 epochs, ent 0), BasicRewardNet with RunningNorm
inputs, demo batch 1,024, generator replay 512, 8 discriminator updates per round. After every
round (PPO's n_steps x 8 envs = 16,384 env steps) the policy plays 20 deterministic evaluation
episodes; evaluation time is excluded from the training wall time. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def trajectories(path: str):
    """The demos file's episodes as imitation's TrajectoryWithRew (obs holds T + 1 observations)."""
    from imitation.data.types import TrajectoryWithRew

    with np.load(path) as d:
        obs, act, rew, nxt, ep, term = (d[k] for k in ("obs", "actions", "rewards", "next_obs", "episode", "terminated"))
    out = []
    for e in range(int(ep.max()) + 1):
        i = np.flatnonzero(ep == e)
        out.append(TrajectoryWithRew(obs=np.concatenate([obs[i], nxt[i[-1]][None]]), acts=act[i], infos=None,
                                     terminal=bool(term[i[-1]]), rews=rew[i].astype(float)))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("demos")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=500_000)
    p.add_argument("--bar", type=float, default=475.0)
    args = p.parse_args()

    import torch
    from imitation.algorithms.adversarial.gail import GAIL
    from imitation.data.wrappers import RolloutInfoWrapper
    from imitation.rewards.reward_nets import BasicRewardNet
    from imitation.util.networks import RunningNorm
    from imitation.util.util import make_vec_env
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.ppo import MlpPolicy

    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    env = make_vec_env("CartPole-v1", rng=rng, n_envs=8, post_wrappers=[lambda env, _: RolloutInfoWrapper(env)])
    eval_env = make_vec_env("CartPole-v1", rng=np.random.default_rng(args.seed + 10_000), n_envs=1)
    learner = PPO(env=env, policy=MlpPolicy, batch_size=64, ent_coef=0.0, learning_rate=0.0004, gamma=0.95,
                  n_epochs=5, seed=args.seed)
    reward_net = BasicRewardNet(observation_space=env.observation_space, action_space=env.action_space,
                                normalize_input_layer=RunningNorm)
    trainer = GAIL(demonstrations=trajectories(args.demos), demo_batch_size=1024, gen_replay_buffer_capacity=512,
                   n_disc_updates_per_round=8, venv=env, gen_algo=learner, reward_net=reward_net,
                   allow_variable_horizon=True)  # CartPole-v1's episodes end when the pole falls
    state = {"train_s": 0.0, "t0": time.perf_counter(), "evals": [], "reached": None}

    def after_round(round_num: int) -> None:
        state["train_s"] += time.perf_counter() - state["t0"]
        steps = learner.num_timesteps
        mean, _ = evaluate_policy(learner, eval_env, n_eval_episodes=20, deterministic=True)
        state["evals"].append((steps, float(mean)))
        if state["reached"] is None and mean >= args.bar:
            state["reached"] = {"steps": steps, "train_s": state["train_s"]}
        state["t0"] = time.perf_counter()

    trainer.train(args.steps, callback=after_round)
    print(json.dumps({"seed": args.seed, "reached": state["reached"], "final": state["evals"][-1][1],
                      "steps": learner.num_timesteps, "train_s": state["train_s"], "evals": state["evals"]}))


if __name__ == "__main__":
    main()
