"""stable-baselines3 as a reference backend: `agent=sb3_ppo|sb3_dqn|sb3_a2c|sb3_sac`, and
sb3-contrib's RecurrentPPO as `agent=sb3_recurrent_ppo`.

SB3 keeps its own training loop, so the adapter hands it one chunk of env steps per tick
(`model.learn(chunk, reset_num_timesteps=False)`) and the lab's trainer does the rest as for
its own learners: evaluation on the same eval envs, metrics.jsonl, checkpoints, W&B, resume.
SB3 optimises inside `learn`, so the adapter has no optimisation phases of its own.

The budget holds as for the lab's own learners: a run ends within one tick of `agent.budget`
(= trainer.total_steps). SB3 collects whole rollouts (n_steps x n_envs env steps; off-policy:
train_freq x n_envs), so each learn() call asks for at most the budget left, a rollout larger
than the budget shrinks to the fewest steps per env that cover it (PPO's batch_size to a divisor
of it), and a chunk is whole rollouts; what was adjusted is said in one log line. With SB3's
default n_steps of 2048 and env=mario's 256 envs one rollout was 524,288 steps, whatever the budget.

Hyperparameters are SB3's constructor arguments (`agent.hyperparams`); schedules are written
as in rl-baselines3-zoo (`lin_0.001`). Resume continues from the checkpoint (weights, optimizer
states, counters, RNG), but SB3's own vector env restarts its episodes, so an SB3 run resumed
midway is not bit-identical to an uninterrupted one; save_replay keeps an off-policy buffer.

    python -m lab agent=sb3_ppo env=cartpole
"""

from __future__ import annotations

import inspect
import logging
import math
from typing import Any, Callable, Iterator

import gymnasium as gym
import numpy as np
import torch

from agents.config import SB3Config
from lab.core.learner import Evaluation, Learner, Phase
from lab.core.rng import Seeds

ALGOS = {"ppo": "PPO", "dqn": "DQN", "a2c": "A2C", "sac": "SAC", "recurrent_ppo": "RecurrentPPO"}
ON_POLICY = ("ppo", "a2c", "recurrent_ppo")
MINIBATCHED = ("ppo", "recurrent_ppo")  # on-policy algorithms with a batch_size

log = logging.getLogger("lab")


def _schedule(value: Any) -> Any:
    """rl-baselines3-zoo's 'lin_<x>': linear from x to 0 over training (SB3 passes progress 1 -> 0)."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


def fit_rollout(n_steps: int, num_envs: int, batch_size: int | None, budget: int) -> tuple[int, int | None]:
    """An on-policy rollout (n_steps per env) and PPO minibatch size that fit `budget` env steps.

    A rollout of n_steps x num_envs larger than the budget shrinks to ceil(budget / num_envs)
    steps per env, the fewest that cover the budget, so the run ends within one vector step of it
    (a rollout just under the budget would be followed by a whole second one). PPO's batch_size
    (A2C has none: None) then becomes the largest divisor of the new rollout not above it, so
    minibatches are not truncated, or the whole rollout when only 1 divides it (a prime rollout).
    A rollout that fits is left as it is. Needs num_envs <= budget.
    """
    if n_steps * num_envs <= budget:
        return n_steps, batch_size
    if batch_size is not None:
        budget = max(budget, 2)  # SB3's PPO needs a rollout (and minibatch) of at least 2
    n_steps = math.ceil(budget / num_envs)
    if batch_size is None:
        return n_steps, None
    rollout = n_steps * num_envs
    divisor = max(d for d in range(1, min(batch_size, rollout) + 1) if rollout % d == 0)
    return n_steps, divisor if divisor > 1 else rollout


def _train_freq(value: Any) -> tuple[int, str]:
    """SB3's train_freq (an int, or (n, 'step'|'episode')) as a tuple; Hydra gives lists."""
    return (int(value[0]), str(value[1])) if isinstance(value, (list, tuple)) else (int(value), "step")


def fit_budget(algo: Any, name: str, hyper: dict[str, Any], num_envs: int, chunk_steps: int,
               budget: int) -> tuple[dict[str, Any], int, str]:
    """SB3's hyperparameters with rollouts that fit the run's budget, the env steps of one tick
    (`agent.chunk_steps` rounded up to whole rollouts: what SB3's learn() collects anyway) and a
    note of what was adjusted ('' when nothing was). ValueError when not even one step of all the
    envs fits the budget."""
    if num_envs > budget:
        raise ValueError(f"trainer.total_steps={budget:,} is less than one step of env.num_envs={num_envs} envs; "
                         f"raise trainer.total_steps or lower env.num_envs")
    defaults = {k: p.default for k, p in inspect.signature(algo.__init__).parameters.items()}
    hyper, notes = dict(hyper), []
    if name in ON_POLICY:
        n_steps = int(hyper.get("n_steps", defaults["n_steps"]))
        batch = int(hyper.get("batch_size", defaults["batch_size"])) if name in MINIBATCHED else None
        new_steps, new_batch = fit_rollout(n_steps, num_envs, batch, budget)
        if new_steps != n_steps:
            hyper["n_steps"] = new_steps
            notes.append(f"n_steps {n_steps} -> {new_steps} so one rollout ({new_steps} x {num_envs} envs = "
                         f"{new_steps * num_envs:,} env steps) fits trainer.total_steps={budget:,}")
        if new_batch != batch:
            hyper["batch_size"] = new_batch
            notes.append(f"batch_size {batch} -> {new_batch} (a divisor of the rollout)")
        unit = new_steps * num_envs
    else:
        freq, freq_unit = _train_freq(hyper.get("train_freq", defaults["train_freq"]))
        if "train_freq" in hyper:
            hyper["train_freq"] = (freq, freq_unit)
        # a collection of whole episodes has no fixed size: then a tick may pass the budget by an episode
        unit = freq * num_envs if freq_unit == "step" else 1
    chunk = math.ceil(chunk_steps / unit) * unit
    if chunk != chunk_steps:
        what = "rollouts" if name in ON_POLICY else "train_freq collections"
        notes.append(f"agent.chunk_steps {chunk_steps:,} -> {chunk:,} (whole {what} of {unit:,} env steps)")
    return hyper, chunk, "; ".join(notes)


class SB3Learner(Learner):
    step_unit = "env steps"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], num_envs: int, cfg: SB3Config,
                 device: torch.device, seed: int) -> None:
        import stable_baselines3 as sb3
        from stable_baselines3.common.env_util import make_vec_env

        self.cfg = cfg
        if cfg.algo == "recurrent_ppo":
            import sb3_contrib

            algo = sb3_contrib.RecurrentPPO
        else:
            algo = getattr(sb3, ALGOS[cfg.algo])
        self.recurrent = cfg.algo == "recurrent_ppo"
        hyper = {k: _schedule(v) for k, v in dict(cfg.hyperparams).items()}
        if "policy_kwargs" in hyper and isinstance(hyper["policy_kwargs"], dict):
            hyper["policy_kwargs"] = dict(hyper["policy_kwargs"])
            act = hyper["policy_kwargs"].get("activation_fn")
            if isinstance(act, str):  # the zoo writes nn.ReLU; a config file writes relu
                names = {"relu": "ReLU", "tanh": "Tanh", "elu": "ELU", "leaky_relu": "LeakyReLU", "silu": "SiLU"}
                if act.lower() not in names:
                    raise ValueError(f"policy_kwargs.activation_fn={act}: choose one of {', '.join(names)}")
                hyper["policy_kwargs"]["activation_fn"] = getattr(torch.nn, names[act.lower()])
        budget = cfg.budget
        hyper, self.chunk, note = fit_budget(algo, cfg.algo, hyper, num_envs, cfg.chunk_steps, budget)
        if note:
            log.info(f"agent={cfg.name}: {note}")
        self.venv = make_vec_env(env_id, n_envs=num_envs, seed=seed, env_kwargs=env_kwargs)
        if cfg.normalize:  # rl-zoo's `normalize: true`; evaluation normalises with the frozen statistics
            from stable_baselines3.common.vec_env import VecNormalize

            self.venv = VecNormalize(self.venv, gamma=float(hyper.get("gamma", 0.99)))
        self._actors: dict[bool, Callable] = {}
        self.model = algo(cfg.policy, self.venv, seed=seed, device=device, verbose=0, **hyper)

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
        # learn() collects whole rollouts until it has `steps` more: ask for no more than the
        # budget left, so the last tick ends within a rollout of it (as the lab's PPO does)
        left = self.cfg.budget - before
        steps = min(self.chunk, left) if left > 0 else self.chunk
        with torch.enable_grad():  # the trainer collects under no_grad; SB3 trains in here
            self.model.learn(total_timesteps=steps, reset_num_timesteps=False, progress_bar=False)
        return None, self.model.num_timesteps - before

    def losses(self, phase: Phase, batch: Any) -> Iterator[torch.Tensor]:
        return iter(())

    def act(self, obs: np.ndarray, first: np.ndarray | None = None, deterministic: bool = True) -> np.ndarray:
        """Actions for raw env observations (`first`: where an episode starts; RecurrentPPO keeps one
        LSTM state per batch size between calls, see `actor`)."""
        if deterministic not in self._actors:
            self._actors[deterministic] = self.actor(deterministic)
        return self._actors[deterministic](obs, first)

    def actor(self, deterministic: bool = True) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
        """A policy for evaluation and watching, `act(obs, first) -> actions`, with its own LSTM
        states for RecurrentPPO (reset where `first`, SB3's episode_start)."""
        state: list[Any] = [None]

        def act(obs: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
            if isinstance(self.venv, _vec_normalize()):
                obs = self.venv.normalize_obs(obs)
            if not self.recurrent:
                return self.model.predict(obs, deterministic=deterministic)[0]
            start = np.ones(len(obs), dtype=bool) if first is None else np.asarray(first, dtype=bool)
            actions, state[0] = self.model.predict(obs, state=state[0], episode_start=start,
                                                   deterministic=deterministic)
            return actions
        return act

    def evaluate(self, source: Any) -> Evaluation:
        return source.evaluate(self.actor())  # the mean return over env.eval_episodes, deterministic policy

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
        if isinstance(self.venv, _vec_normalize()):
            state["normalize"] = {name: {"mean": torch.as_tensor(rms.mean, dtype=torch.float64),
                                         "var": torch.as_tensor(rms.var, dtype=torch.float64), "count": float(rms.count)}
                                  for name, rms in (("obs", self.venv.obs_rms), ("ret", self.venv.ret_rms))}
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
        if "normalize" in state and isinstance(self.venv, _vec_normalize()):
            for name, rms in (("obs", self.venv.obs_rms), ("ret", self.venv.ret_rms)):
                saved = state["normalize"][name]
                rms.mean, rms.var, rms.count = saved["mean"].numpy().copy(), saved["var"].numpy().copy(), saved["count"]


def _vec_normalize() -> type:
    from stable_baselines3.common.vec_env import VecNormalize

    return VecNormalize


CONFIG = SB3Config  # this learner's config schema (conf/agent/sb3_*.yaml)


def build(source: Any, cfg: SB3Config, device: torch.device, seeds: Seeds) -> SB3Learner:
    """The learner for `agent=sb3_*` (called by lab/run.py): SB3 builds its own training envs from
    the env source's id and keyword arguments."""
    if source.family == "atari":
        raise ValueError("the SB3 backend is not wired to env=atari's preprocessing; "
                         "use agent=dqn or agent=ppo (their dqn_atari/ppo_atari presets)")
    action_space = source.single_action_space
    if cfg.algo == "dqn" and not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"SB3 DQN needs a Discrete action space, not {action_space}")
    if (cfg.algo == "recurrent_ppo") != ("Lstm" in cfg.policy):
        raise ValueError(f"agent.policy={cfg.policy} with agent.algo={cfg.algo}: RecurrentPPO (agent=sb3_recurrent_ppo) "
                         f"takes MlpLstmPolicy or CnnLstmPolicy, the other algorithms MlpPolicy or CnnPolicy")
    if cfg.algo == "sac" and not isinstance(action_space, gym.spaces.Box):
        raise ValueError(f"SB3 SAC needs a continuous (Box) action space, not {action_space}")
    return SB3Learner(source.env_id, source.env_kwargs, source.num_envs, cfg, device, seeds.seed)  # SB3 seeds itself
