"""Atari 2600 games (the Arcade Learning Environment, ale-py) with the DeepMind preprocessing.

The standard pipeline of Mnih et al. 2015 ("Human-level control through deep reinforcement
learning") with the v5 sticky actions of Machado et al. 2018 ("Revisiting the Arcade Learning
Environment"), one single env per sub-env, innermost first:

    gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.25)   ALE: sticky actions per frame
    AtariPreprocessing(noop_max=30, frame_skip=4, screen_size=84)          up to 30 no-ops on reset; each
        step repeats the action 4 frames, sums their rewards, max-pools the last two (Atari sprites
        flicker), 84x84 grayscale (INTER_AREA)
    FireReset(after_life_loss=terminal_on_life_loss)                       games that wait for FIRE get it
    TrainingSignals(clip_reward, terminal_on_life_loss)                    see below
    FrameStackObservation(4)                                               uint8 (4, 84, 84), channels first

vectorised by Gymnasium's SyncVectorEnv or AsyncVectorEnv with NEXT_STEP autoreset
(`env.vectorization`). `python -m lab agent=dqn env=atari env.id=ALE/Breakout-v5`.

Training on clipped rewards and life-loss episode ends, reporting full games. The env itself
always returns the game's own reward and ends episodes only at game over (or ALE's 108k-frame
limit), so `RLSource.evaluate`, `lab.watch` and the episode returns the run reports
(`train/episode_return`) are unclipped full-game scores. What learners train on travels in
`info`: `train_reward` = sign(reward) with `clip_reward`, and `train_terminated` = True on the
step a life is lost with `terminal_on_life_loss` (the "episodic life" of DQN: no bootstrapping
across a lost life). RLSource.step hands those to the learner instead of the env's own. A lost
life does not reset the game (there is nothing to reset: the game goes on, as in baselines'
EpisodicLifeEnv, whose reset after a lost life only steps a no-op), so no reset step follows it.

Games that wait for FIRE to launch (Breakout's ball) get it, as from the DeepMind wrappers'
FireResetEnv (baselines, SB3's AtariWrapper, cleanrl): after every reset FIRE then action 2 are
stepped, and with terminal_on_life_loss also after every lost life (where those wrappers' reset
after a lost life fires too). Without it an untrained agent that never picks FIRE sits out the
ALE's 108k-frame limit (27k steps) in every evaluation episode. `env.fire_reset=false` leaves
launching to the agent.

The emulator's state lives in C++ objects: checkpoints cannot hold it (envs/state.py), and a
resumed run restarts its episodes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from envs.errors import EnvError

ALE_ENTRY_POINT = "ale_py.env:AtariEnv"


def preprocessing_keys() -> frozenset[str]:
    """The keys env=atari adds to GymEnvConfig's (AtariEnvConfig's fields); the factory routes
    an ALE id whose kwargs hold them here."""
    from envs.config import AtariEnvConfig, GymEnvConfig

    base = {f.name for f in dataclasses.fields(GymEnvConfig)}
    return frozenset(f.name for f in dataclasses.fields(AtariEnvConfig) if f.name not in base)


def register() -> None:
    """Register the ALE/... ids with Gymnasium (ale-py ships the ROMs)."""
    try:
        import ale_py
    except ImportError:
        raise EnvError("Atari envs need ale-py (it ships the game ROMs): pip install ale-py opencv-python-headless") from None
    gym.register_envs(ale_py)


def is_atari(spec: gym.envs.registration.EnvSpec) -> bool:
    return spec.entry_point == ALE_ENTRY_POINT


class TrainingSignals(gym.Wrapper):
    """Puts the learner's training signals in `info`, leaving the env's own reward and episode end.

    info["train_reward"]: sign(reward) with clip_reward (Mnih et al.: one scale for every game);
    info["train_terminated"]: True where a life was lost with terminal_on_life_loss.
    Reset infos carry them too (0, False), so vector infos are defined for every sub-env.
    """

    def __init__(self, env: gym.Env, *, clip_reward: bool, terminal_on_life_loss: bool) -> None:
        super().__init__(env)
        self.clip_reward, self.terminal_on_life_loss = clip_reward, terminal_on_life_loss
        self.lives = 0

    def _lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.lives = self._lives()
        return obs, self._signals(info, 0.0, False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self._lives()
        life_lost = 0 < lives < self.lives  # at game over (lives 0) the episode ends anyway
        self.lives = lives
        return obs, reward, terminated, truncated, self._signals(info, reward, terminated or life_lost)

    def _signals(self, info: dict[str, Any], reward: float, terminated: bool) -> dict[str, Any]:
        if self.clip_reward:
            info["train_reward"] = float(np.sign(reward))
        if self.terminal_on_life_loss:
            info["train_terminated"] = bool(terminated)
        return info


def needs_fire(env: gym.Env) -> bool:
    """Whether a game launches with FIRE: action 1 is FIRE and there are >= 3 actions (the test of
    baselines' FireResetEnv, which steps actions 1 and 2)."""
    meanings = env.unwrapped.get_action_meanings()
    return len(meanings) >= 3 and meanings[1] == "FIRE"


class FireReset(gym.Wrapper):
    """Steps FIRE (1) then action 2 after every reset, and after every lost life with
    `after_life_loss`, in a game that needs FIRE to start (DeepMind's FireResetEnv).

    A lost life is not an episode end of the env (TrainingSignals), so the relaunch happens inside
    the step that lost the life: its observation is the relaunched game's, its reward includes the
    (in practice zero) reward of the launch steps. Steps of agent time, so frame skip applies.
    """

    LAUNCH = (1, 2)  # FIRE, then action 2 as baselines does (a few games need a second action)

    def __init__(self, env: gym.Env, *, after_life_loss: bool) -> None:
        super().__init__(env)
        self.after_life_loss = after_life_loss
        self.lives = 0

    def _lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        for action in self.LAUNCH:
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:  # as baselines: start again (the seed is not reused)
                obs, info = self.env.reset(options=kwargs.get("options"))
        self.lives = self._lives()
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self._lives()
        if self.after_life_loss and 0 < lives < self.lives and not (terminated or truncated):
            for launch in self.LAUNCH:
                obs, launch_reward, terminated, truncated, info = self.env.step(launch)
                reward += launch_reward
                if terminated or truncated:
                    break
            lives = self._lives()
        self.lives = lives
        return obs, reward, terminated, truncated, info


class ChannelsFirst(gym.ObservationWrapper):
    """(k, H, W, 3) stacked RGB frames -> (3k, H, W), the (C, H, W) the CNNs take."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        k, h, w, c = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 255, (k * c, h, w), np.uint8)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        k, h, w, c = obs.shape
        return np.ascontiguousarray(obs.transpose(0, 3, 1, 2).reshape(k * c, h, w))


def make_atari(env_id: str, *, noop_max: int = 30, frame_skip: int = 4, screen_size: int = 84,
               grayscale: bool = True, frame_stack: int = 4, terminal_on_life_loss: bool = True,
               clip_reward: bool = True, fire_reset: bool = True, repeat_action_probability: float = 0.25,
               max_episode_steps: int | None = None, render_mode: str | None = None,
               **ale_kwargs: Any) -> gym.Env:
    """One preprocessed Atari env (see the module docstring). `ale_kwargs` go to the ALE env
    (e.g. full_action_space, mode, difficulty); `max_episode_steps` counts agent steps."""
    register()
    if "frameskip" in ale_kwargs:
        raise EnvError("env.kwargs.frameskip: the ALE env runs every frame; set env.frame_skip instead")
    # the ALE env's own observation is unused (AtariPreprocessing reads the screen itself); grayscale
    # makes its per-frame copy 3x smaller
    ale_kwargs.setdefault("obs_type", "grayscale" if grayscale else "rgb")
    env = gym.make(env_id, frameskip=1, repeat_action_probability=repeat_action_probability,
                   render_mode=render_mode, **ale_kwargs)
    return wrap_atari(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size, grayscale=grayscale,
                      frame_stack=frame_stack, terminal_on_life_loss=terminal_on_life_loss, clip_reward=clip_reward,
                      fire_reset=fire_reset, max_episode_steps=max_episode_steps)


def wrap_atari(env: gym.Env, *, noop_max: int = 30, frame_skip: int = 4, screen_size: int = 84,
               grayscale: bool = True, frame_stack: int = 4, terminal_on_life_loss: bool = True,
               clip_reward: bool = True, fire_reset: bool = True, max_episode_steps: int | None = None) -> gym.Env:
    """The DeepMind preprocessing around an ALE env that runs every frame (frameskip=1)."""
    try:
        import cv2  # AtariPreprocessing resizes with OpenCV
    except ImportError:
        raise EnvError("Atari preprocessing needs OpenCV: pip install opencv-python-headless") from None
    cv2.setNumThreads(1)  # one 210x160 frame: threads only add overhead (~1.4x slower on 2 busy cores)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size,
                                          terminal_on_life_loss=False, grayscale_obs=grayscale, scale_obs=False)
    if fire_reset and needs_fire(env):
        env = FireReset(env, after_life_loss=terminal_on_life_loss)
    env = TrainingSignals(env, clip_reward=clip_reward, terminal_on_life_loss=terminal_on_life_loss)
    # padding "reset" repeats a new episode's first frame (the replay rebuilds stacks that way)
    env = gym.wrappers.FrameStackObservation(env, frame_stack, padding_type="reset")
    if not grayscale:
        env = ChannelsFirst(env)
    if max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, max_episode_steps)
    return env


def make_atari_vec(env_id: str, num_envs: int, *, vectorization: str = "auto", max_episode_steps: int | None = None,
                   render_mode: str | None = None, **kwargs: Any) -> gym.vector.VectorEnv:
    """`num_envs` preprocessed Atari envs in a sync (auto) or async (one process each) vector env,
    autoreset mode NEXT_STEP. `kwargs`: make_atari's settings and the ALE env's own keywords."""
    register()
    if vectorization not in ("auto", "sync", "async"):
        raise EnvError(f"env.vectorization={vectorization}: env=atari runs sync or async vector envs "
                       "(auto: sync)")
    for key in ("noop_max", "frame_skip", "screen_size", "frame_stack"):
        if key in kwargs and (not isinstance(kwargs[key], int) or kwargs[key] < (0 if key == "noop_max" else 1)):
            raise EnvError(f"env.{key}={kwargs[key]} must be a {'non-negative' if key == 'noop_max' else 'positive'} integer")
    make: Callable[[], gym.Env] = lambda: make_atari(env_id, max_episode_steps=max_episode_steps,
                                                     render_mode=render_mode, **kwargs)
    try:
        probe = make()  # a bad ALE keyword or setting fails here, in this process, as one line
    except TypeError as exc:
        raise EnvError(f"{env_id}: {exc}") from None
    fns = [lambda p=probe: p] + [make] * (num_envs - 1)
    if vectorization == "async":
        probe.close()
        return gym.vector.AsyncVectorEnv([make] * num_envs, autoreset_mode=AutoresetMode.NEXT_STEP)
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
