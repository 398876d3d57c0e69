"""stable-baselines3 as a reference backend: `agent=sb3_ppo|sb3_dqn|sb3_a2c|sb3_sac`.

SB3 keeps its own training loop, so the adapter hands it one chunk of env steps per tick
(`model.learn(chunk, reset_num_timesteps=False)`) and the lab's trainer does the rest as for
its own learners: evaluation on the same eval envs, metrics.jsonl, checkpoints, W&B, resume.
SB3 optimises inside `learn`, so the adapter has no optimisation phases of its own.

Hyperparameters are SB3's constructor arguments (`agent.hyperparams`); schedules are written
as in rl-baselines3-zoo (`lin_0.001`). Resume continues from the checkpoint (weights, optimizer
states, counters, RNG), but SB3's own vector env restarts its episodes, so an SB3 run resumed
midway is not bit-identical to an uninterrupted one; save_replay keeps an off-policy buffer.

    python -m lab agent=sb3_ppo env=cartpole
"""

from __future__ import annotations

from typing import Any, Iterator

import gymnasium as gym
import numpy as np
import torch

from agents.config import SB3Config
from lab.learner import Phase

ALGOS = {"ppo": "PPO", "dqn": "DQN", "a2c": "A2C", "sac": "SAC"}


def _schedule(value: Any) -> Any:
    """rl-baselines3-zoo's 'lin_<x>': linear from x to 0 over training (SB3 passes progress 1 -> 0)."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


class SB3Learner:
    step_unit = "env steps"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], num_envs: int, cfg: SB3Config,
                 device: torch.device, seed: int) -> None:
        import stable_baselines3 as sb3
        from stable_baselines3.common.env_util import make_vec_env

        self.cfg = cfg
        algo = getattr(sb3, ALGOS[cfg.algo])
        self.venv = make_vec_env(env_id, n_envs=num_envs, seed=seed, env_kwargs=env_kwargs)
        hyper = {k: _schedule(v) for k, v in dict(cfg.hyperparams).items()}
        if "policy_kwargs" in hyper and isinstance(hyper["policy_kwargs"], dict):
            hyper["policy_kwargs"] = dict(hyper["policy_kwargs"])
        self.model = algo(cfg.policy, self.venv, seed=seed, device=device, verbose=0, **hyper)
        budget = cfg.budget

        # SB3 computes schedule progress from each learn() call's own total; the lab calls learn
        # once per chunk, so progress is measured against the whole run's budget instead.
        def progress(num_timesteps: int, total_timesteps: int) -> None:
            self.model._current_progress_remaining = max(1.0 - num_timesteps / budget, 0.0)

        self.model._update_current_progress_remaining = progress
        self._recent: list[tuple[float, int]] = []

    # ------------------------------------------------------------------ the contract
    def phases(self) -> list[Phase]:
        return []  # SB3 optimises inside learn()

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"policy": self.model.policy}

    def collect(self, source: Any) -> tuple[None, int]:
        before = self.model.num_timesteps
        with torch.enable_grad():  # the trainer collects under no_grad; SB3 trains in here
            self.model.learn(total_timesteps=self.cfg.chunk_steps, reset_num_timesteps=False, progress_bar=False)
        return None, self.model.num_timesteps - before

    def losses(self, phase: Phase, batch: Any) -> Iterator[torch.Tensor]:
        return iter(())

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return self.model.predict(obs, deterministic=deterministic)[0]

    def evaluate(self, source: Any, episodes: int) -> dict[str, float]:
        return source.evaluate(self.act, episodes)

    def log_metrics(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        infos = list(self.model.ep_info_buffer or [])
        if infos:
            metrics["train/episode_return"] = float(np.mean([i["r"] for i in infos[-20:]]))
            metrics["train/episode_length"] = float(np.mean([i["l"] for i in infos[-20:]]))
        for key, value in self.model.logger.name_to_value.items():
            if key.startswith("train/") and isinstance(value, (int, float)):
                metrics["loss/" + key.split("/", 1)[1]] = float(value)
        return metrics

    def status(self) -> str:
        infos = list(self.model.ep_info_buffer or [])
        return f"return {np.mean([i['r'] for i in infos[-20:]]):.1f}" if infos else ""

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "parameters": self.model.get_parameters(),  # policy and optimizer state dicts
            "num_timesteps": int(self.model.num_timesteps), "n_updates": int(getattr(self.model, "_n_updates", 0)),
            "episode_num": int(self.model._episode_num),
        }
        if self.cfg.save_replay and getattr(self.model, "replay_buffer", None) is not None:
            buf = self.model.replay_buffer
            state["replay"] = {name: torch.from_numpy(np.ascontiguousarray(getattr(buf, name)))
                               for name in ("observations", "next_observations", "actions", "rewards", "dones",
                                            "timeouts") if getattr(buf, name, None) is not None}
            state["replay_pos"] = [int(buf.pos), bool(buf.full)]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.set_parameters(state["parameters"], exact_match=True, device=self.model.device)
        self.model.num_timesteps = state["num_timesteps"]
        if hasattr(self.model, "_n_updates"):
            self.model._n_updates = state["n_updates"]
        self.model._episode_num = state["episode_num"]
        if "replay" in state and getattr(self.model, "replay_buffer", None) is not None:
            buf = self.model.replay_buffer
            for name, array in state["replay"].items():
                getattr(buf, name)[...] = array.numpy()
            buf.pos, buf.full = state["replay_pos"]


def build(obs_space: gym.Space, action_space: gym.Space, num_envs: int, cfg: SB3Config,
          device: torch.device, *, env_id: str, env_kwargs: dict[str, Any], seed: int) -> SB3Learner:
    """The learner for `agent=sb3_*` (called by lab/run.py)."""
    if cfg.algo == "dqn" and not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"SB3 DQN needs a Discrete action space, not {action_space}")
    if cfg.algo == "sac" and not isinstance(action_space, gym.spaces.Box):
        raise ValueError(f"SB3 SAC needs a continuous (Box) action space, not {action_space}")
    return SB3Learner(env_id, env_kwargs, num_envs, cfg, device, seed)
