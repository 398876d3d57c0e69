"""What an RL learner learns from: a training vector env, episode bookkeeping, and evaluation.

Shared by every RL learner (PPO, DQN): the source steps the vector env, marks NEXT_STEP reset
steps (whose action was ignored) as invalid, records finished episodes for logging, saves and
restores the env mid-episode where it can, and evaluates a policy on separate eval envs.

    source = RLSource(lambda n: make_vec("CartPole-v1", n), num_envs=8, seed=0)
    obs, reward, terminated, truncated, valid = source.step(actions)
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch

from envs.errors import EnvStepError
from envs.state import get_state, set_state
from lab.core.learner import Evaluation, Source
from lab.core.rng import eval_seed as default_eval_seed

MAX_EVAL_ENVS = 32  # evaluation runs min(episodes, MAX_EVAL_ENVS) envs side by side


class RLSource(Source):
    def __init__(self, make_env: Callable[[int], gym.vector.VectorEnv], num_envs: int, seed: int,
                 *, env_id: str = "", eval_seed: int | None = None, eval_episodes: int = 10, recent: int = 20,
                 env_kwargs: dict[str, Any] | None = None, family: str = "gym",
                 heldout: list[tuple[str, Callable[[int], gym.vector.VectorEnv], int]] | None = None,
                 train_env: Callable[[int], gym.vector.VectorEnv] | None = None) -> None:
        # make_env builds evaluation's, watching's and video's envs; train_env (default make_env) the
        # training env, where it differs (the Mario game's level_replay: only training draws levels by
        # failure rate, evaluation uniformly)
        self.make_env, self.num_envs, self.seed, self.env_id = make_env, num_envs, seed, env_id
        # what describes the env to a learner that builds its own copies (the SB3 backend)
        self.env_kwargs, self.family = dict(env_kwargs or {}), family  # family: env=<family> (gym, atari, ...)
        self.eval_episodes = eval_episodes  # env.eval_episodes: episodes per evaluation
        self.eval_seed = default_eval_seed(seed) if eval_seed is None else eval_seed
        self.env = (train_env or make_env)(num_envs)
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space
        self.obs, _ = self.env.reset(seed=seed)
        self.prev_done = np.zeros(num_envs, dtype=bool)  # the next step of these envs is a reset step
        self.ep_return = np.zeros(num_envs, dtype=np.float64)
        self.ep_length = np.zeros(num_envs, dtype=np.int64)
        self.recent: deque[tuple[float, int]] = deque(maxlen=recent)
        self.episodes = 0
        self._eval_env: gym.vector.VectorEnv | None = None
        # held-out level sets evaluation plays besides the training levels: (name, make_env, episodes),
        # one env per episode (the Mario game: envs/mario/supply.py heldout_sets)
        self.heldout = list(heldout or [])
        self._heldout_envs: dict[str, gym.vector.VectorEnv] = {}

    # ------------------------------------------------------------------ training
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step all envs. `valid` is False for reset steps (NEXT_STEP autoreset): learn nothing from them."""
        try:
            obs, reward, terminated, truncated, info = self.env.step(actions)
        except Exception as exc:  # name what would replay it: env id, seed, how far training got
            raise EnvStepError(f"env {self.env_id or '?'} (seed={self.seed}, {self.num_envs} envs) raised during "
                               f"training, after {self.episodes:,} finished episodes: {type(exc).__name__}: "
                               f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc
        valid = ~self.prev_done
        done = (terminated | truncated) & valid
        self.ep_return += np.where(valid, reward, 0.0)
        self.ep_length += valid
        if done.any():
            for i in np.flatnonzero(done):
                self.recent.append((float(self.ep_return[i]), int(self.ep_length[i])))
            self.episodes += int(done.sum())
            self.ep_return[done] = 0.0
            self.ep_length[done] = 0
        self.prev_done = done
        self.obs = obs
        # An env may train learners on other signals than the ones it reports (envs/atari.py:
        # clipped rewards, a lost life ends the episode): info["train_reward"] and
        # info["train_terminated"]. Episode returns above and evaluation keep the env's own.
        if "train_reward" in info:
            reward = np.where(info.get("_train_reward", True), info["train_reward"], reward)
        if "train_terminated" in info:
            terminated = terminated | (info["train_terminated"] & info.get("_train_terminated", True))
        return obs, reward, terminated, truncated, valid

    def log_metrics(self) -> dict[str, float]:
        if not self.recent:
            return {"train/episodes": self.episodes}
        returns, lengths = zip(*self.recent)
        return {"train/episode_return": float(np.mean(returns)), "train/episode_length": float(np.mean(lengths)),
                "train/episodes": self.episodes}

    def status(self) -> str:
        return f"return {np.mean([r for r, _ in self.recent]):.1f}" if self.recent else ""

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, act: Callable[[np.ndarray, np.ndarray], np.ndarray], episodes: int | None = None,
                 max_envs: int = MAX_EVAL_ENVS, *, env: gym.vector.VectorEnv | None = None,
                 on_step: Callable[[gym.vector.VectorEnv, np.ndarray, list, dict], None] | None = None,
                 ) -> Evaluation:
        """Run `episodes` (default: env.eval_episodes) full episodes with `act(obs, first)` on
        separate eval envs (fixed seeds); `first[i]` says obs[i] is the first observation of an
        episode (a recurrent policy resets its state there). The score is the mean return.
        Envs that report `flag_get` and `progress` (the Mario game) add `clear_rate` and `progress`
        (the mean fraction of the level reached); with held-out level sets, each is played too
        (`heldout/<set>/...`, `heldout/clear_rate`, `heldout/progress`) and `gap/clear_rate`,
        `gap/progress` say how much better the training levels go.

        Each eval env runs a fixed quota of episodes, so short episodes are not over-counted
        (the bias of counting episodes in order of completion). The same seeds every time make
        evaluations comparable across a run and reproducible by `lab.watch`.

        For watching (lab.watch, training videos): `env` replaces the eval envs with the caller's
        (e.g. `make_env(n, render_mode="rgb_array")`, n = min(episodes, max_envs)), and
        `on_step(env, live, ended, info)` is called after the reset and after every step:
        `live[i]` says sub-env i now shows a counted episode, `ended` lists the
        `(sub-env, return, length)` of the episodes counted at this step, in counting order.
        """
        episodes = episodes or self.eval_episodes
        n = min(episodes, max_envs)
        if env is not None:
            if env.num_envs != n:
                raise ValueError(f"evaluate: env has {env.num_envs} sub-envs, {n} needed for {episodes} episodes")
        else:
            if self._eval_env is None or self._eval_env.num_envs != n:
                if self._eval_env is not None:
                    self._eval_env.close()
                self._eval_env = self.make_env(n)
            env = self._eval_env
        quota = np.array([episodes // n + (i < episodes % n) for i in range(n)])
        obs, info = env.reset(seed=self.eval_seed)
        if on_step is not None:
            on_step(env, np.ones(n, dtype=bool), [], info)
        ret, length = np.zeros(n), np.zeros(n, dtype=np.int64)
        returns: list[float] = []
        lengths: list[int] = []
        cleared: list[float] = []
        progress: list[float] = []
        finished = np.zeros(n, dtype=np.int64)
        prev_done = np.zeros(n, dtype=bool)
        first = np.ones(n, dtype=bool)
        while (finished < quota).any():
            actions = act(obs, first)
            try:
                obs, reward, terminated, truncated, info = env.step(actions)
            except Exception as exc:
                raise EnvStepError(f"env {self.env_id or '?'} (evaluation seed={self.eval_seed}, {n} envs) raised "
                                   f"during evaluation: {type(exc).__name__}: {str(exc).strip()[:200]}") from exc
            active = ~prev_done & (finished < quota)
            live = active | (prev_done & (finished < quota))  # reset steps start the next counted episode
            ret += np.where(active, reward, 0.0)
            length += active
            done = (terminated | truncated) & ~prev_done
            ended = []
            for i in np.flatnonzero(done & active):
                returns.append(float(ret[i]))
                lengths.append(int(length[i]))
                if "flag_get" in info and "progress" in info:
                    cleared.append(float(info["flag_get"][i]))
                    progress.append(float(info["progress"][i]))
                finished[i] += 1
                ended.append((int(i), returns[-1], lengths[-1]))
            if on_step is not None:
                on_step(env, live, ended, info)
            ret[done], length[done] = 0.0, 0
            first = prev_done  # this step reset those envs: its observation starts their next episode
            prev_done = done
        metrics = {"return_mean": float(np.mean(returns)), "return_std": float(np.std(returns)),
                   "length_mean": float(np.mean(lengths)), "episodes": len(returns)}
        if cleared:
            metrics.update(clear_rate=float(np.mean(cleared)), progress=float(np.mean(progress)))
        summary = f"return {metrics['return_mean']:.1f} ± {metrics['return_std']:.1f} over {len(returns)} episodes"
        if self.heldout and self._eval_env is env:  # training's evaluation (not a watch or a video)
            metrics.update(self._evaluate_heldout(act, metrics))
            if "heldout/clear_rate" in metrics:
                summary += (f"; cleared {metrics.get('clear_rate', 0):.0%} of training levels, "
                            f"{metrics['heldout/clear_rate']:.0%} held out")
        return Evaluation(metrics, score="return_mean", summary=summary)

    def _evaluate_heldout(self, act: Callable[[np.ndarray, np.ndarray], np.ndarray],
                          train: dict[str, float]) -> dict[str, float]:
        """Each held-out set: one env per episode, each on its own level (same eval seed every time)."""
        out: dict[str, float] = {}
        total: dict[str, list[float]] = {"clear_rate": [], "progress": []}
        for name, make, episodes in self.heldout:
            env = self._heldout_envs.get(name)
            if env is None:
                env = self._heldout_envs[name] = make(episodes)
            m = self.evaluate(act, episodes, max_envs=episodes, env=env).metrics
            out[f"heldout/{name}/return_mean"] = m["return_mean"]
            for k in total:
                if k in m:
                    out[f"heldout/{name}/{k}"] = m[k]
                    total[k] += [m[k]] * int(m["episodes"])
        for k, values in total.items():
            if values:
                out[f"heldout/{k}"] = float(np.mean(values))
                if k in train:
                    out[f"gap/{k}"] = train[k] - out[f"heldout/{k}"]
        return out

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any] | None:
        env_state = get_state(self.env)
        return {
            "env": env_state,
            "obs": torch.from_numpy(np.asarray(self.obs).copy()),
            "prev_done": torch.from_numpy(self.prev_done.copy()),
            "ep_return": torch.from_numpy(self.ep_return.copy()),
            "ep_length": torch.from_numpy(self.ep_length.copy()),
            "recent": list(self.recent), "episodes": self.episodes,
        }

    def load_state_dict(self, state: dict[str, Any]) -> str | None:
        """Restore; returns a note for the user when the env itself could not be restored."""
        self.recent.extend(tuple(x) for x in state["recent"])
        self.episodes = state["episodes"]
        if state["env"] is None:
            # Not savable (Box2D, Atari): start fresh episodes, seeded by the resume point.
            self.obs, _ = self.env.reset(seed=self.seed + 1 + self.episodes)
            return f"note: the state of {self.env_id or 'this env'} cannot be saved; its episodes restart on resume"
        set_state(self.env, state["env"])
        self.obs = state["obs"].numpy().copy()
        self.prev_done = state["prev_done"].numpy().copy()
        self.ep_return = state["ep_return"].numpy().copy()
        self.ep_length = state["ep_length"].numpy().copy()
        return None

    def close(self) -> None:
        for env in self._heldout_envs.values():
            env.close()
        self._heldout_envs.clear()
        self.env.close()
        if self._eval_env is not None:
            self._eval_env.close()
