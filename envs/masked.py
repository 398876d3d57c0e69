"""Partially observable variants of Gymnasium tasks, for recurrent policies.

`lab/CartPoleNoVel-v1` is CartPole-v1 whose observation keeps the cart position and the pole
angle only (rl-baselines3-zoo's CartPoleNoVel-v1): the velocities must be inferred from the
history, so a feed-forward policy cannot balance the pole for long and a recurrent one can.
The vector version wraps Gymnasium's native CartPole vector env (same speed, same savable state).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

KEPT = np.array([0, 2])  # cart position, pole angle (dropped: cart velocity, pole angular velocity)


def _space(space: gym.spaces.Box) -> gym.spaces.Box:
    return gym.spaces.Box(space.low[..., KEPT], space.high[..., KEPT], dtype=space.dtype)


def make_cartpole_novel(**kwargs) -> gym.Env:
    env = gym.make("CartPole-v1", **kwargs)
    return gym.wrappers.TransformObservation(env, lambda obs: obs[KEPT], _space(env.observation_space))


def make_cartpole_novel_vec(num_envs: int = 1, **kwargs) -> gym.vector.VectorEnv:
    env = gym.make_vec("CartPole-v1", num_envs, vectorization_mode="vector_entry_point", **kwargs)
    return gym.wrappers.vector.TransformObservation(env, lambda obs: np.ascontiguousarray(obs[:, KEPT]),
                                                    _space(env.observation_space),
                                                    _space(env.single_observation_space))


def register() -> None:
    if "lab/CartPoleNoVel-v1" not in gym.registry:
        gym.register("lab/CartPoleNoVel-v1", entry_point=make_cartpole_novel,
                     vector_entry_point=make_cartpole_novel_vec, max_episode_steps=None)
