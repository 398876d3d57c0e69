"""Generalised advantage estimation and rollout storage, shared by the on-policy learners.

GAE (Schulman et al. 2016) with the NEXT_STEP autoreset convention of the lab's vector envs:
``values[t+1]`` is the value of the observation that followed step t, which for a truncated
episode is its true final observation, so truncation bootstraps and termination does not.
Steps after an episode end (reset steps) are masked out by the caller via ``valid``.
"""

from __future__ import annotations

import numpy as np


def gae(rewards: np.ndarray, values: np.ndarray, last_value: np.ndarray, terminated: np.ndarray,
        dones: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns, arrays of shape [T, N].

    delta_t = r_t + gamma * (1 - terminated_t) * V_{t+1} - V_t
    A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
    where V_T = last_value, and done_t = terminated_t or truncated_t (the trace is cut at any end).
    """
    T = rewards.shape[0]
    next_values = np.concatenate([values[1:], last_value[None]], axis=0)
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    carry = gamma * lam * (1.0 - dones)
    advantages = np.zeros_like(values)
    last = np.zeros_like(last_value)
    for t in range(T - 1, -1, -1):
        last = deltas[t] + carry[t] * last
        advantages[t] = last
    return advantages, advantages + values


class RolloutBuffer:
    """Preallocated [T, N] arrays of one rollout (numpy, CPU: cheap per-step writes)."""

    def __init__(self, n_steps: int, num_envs: int, obs_shape: tuple[int, ...], obs_dtype,
                 action_shape: tuple[int, ...], action_dtype) -> None:
        T, N = n_steps, num_envs
        self.obs = np.zeros((T, N, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((T, N, *action_shape), dtype=action_dtype)
        self.logprobs = np.zeros((T, N), np.float32)
        self.values = np.zeros((T, N), np.float32)
        self.rewards = np.zeros((T, N), np.float32)
        self.terminated = np.zeros((T, N), np.float32)
        self.dones = np.zeros((T, N), np.float32)
        self.valid = np.zeros((T, N), bool)
        self.raw_obs: np.ndarray | None = None  # un-normalised observations, where a learner asks for them
        self.last_obs: np.ndarray | None = None  # the observations after the rollout's last step
