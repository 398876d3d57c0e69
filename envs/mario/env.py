"""`MarioEnv`: one game of the Mario-like platformer as a Gymnasium env (`lab/Mario-v0`).

A thin view of a one-game `MarioVectorEnv`, so the single and vector envs share every
rule and number. Keyword arguments are the vector env's (see `envs.mario.vector`).

Reward per step (gym-super-mario-bros' shaping, summed over the skipped frames): per
frame, x progress in pixels + clock penalty (-1 each time the level timer ticks, every
24 frames) + death penalty (-15 on losing the life), clipped to [-15, 15]; plus
`flag_bonus` (default +50) on the frame the flag is reached.

Episodes end with terminated=True on death (pit or enemy) or on the flag, and with
truncated=True when the level timer runs out or after `max_episode_steps` steps.

`info`: x_pos, y_pos (pixels; y up from the level's bottom, feet), coins, flag_get,
life (1 alive, 0 after death: one life per episode), time (timer units left), score,
status ("small", or "tall" after a mushroom), world (1), stage (built-in level number, 0 otherwise).

    env = gymnasium.make("lab/Mario-v0", level="intro", obs="grid")
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.mario.vector import FPS, MarioVectorEnv
from lab.core.rng import generator_state, numpy_generator


class MarioEnv(gym.Env):
    """One game; `render_mode` "rgb_array" or "human" (pygame, imported when used)."""

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": FPS // 4}

    def __init__(self, render_mode: str | None = None, **kwargs: Any):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self._vec = MarioVectorEnv(num_envs=1, render_mode="rgb_array" if render_mode else None, **kwargs)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": FPS // self._vec.frame_skip}
        self.observation_space = self._vec.single_observation_space
        self.action_space = self._vec.single_action_space
        self._window = None
        self._clock = None

    @property
    def level(self):
        """The level this game plays (with a level set: the current episode's)."""
        return self._vec.level

    @property
    def actions(self) -> list[list[str]]:
        """The button names of each action index."""
        return self._vec.action_set

    def _info(self, vinfo: dict[str, Any]) -> dict[str, Any]:
        info = {k: v[0].item() for k, v in vinfo.items() if not k.startswith("_")}
        info.update(status="tall" if info.pop("big") else "small", world=1, stage=self._vec.stage)
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        # Without a seed, draw one from this env's generator so reset() sequences are
        # reproducible after a single seeded reset (gymnasium's convention).
        s = seed if seed is not None else int(self.np_random.integers(0, 2**62))
        obs, vinfo = self._vec.reset(seed=s)
        if self.render_mode == "human":
            self.render()
        return obs[0], self._info(vinfo)

    def step(self, action: int):
        if self._vec._needs_reset[0]:
            raise RuntimeError("episode is over: call reset() before step()")
        obs, r, term, trunc, vinfo = self._vec.step(np.array([int(action)]))
        if self.render_mode == "human":
            self.render()
        return obs[0], float(r[0]), bool(term[0]), bool(trunc[0]), self._info(vinfo)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        frame = self._vec.render()[0]
        if self.render_mode == "rgb_array":
            return frame
        self._show(frame)
        return None

    def _show(self, frame: np.ndarray) -> None:
        import pygame  # only the human mode needs a display

        if self._window is None:
            pygame.init()
            pygame.display.set_caption(f"lab Mario - {self.level.name}")
            self._window = pygame.display.set_mode((frame.shape[1] * 2, frame.shape[0] * 2))
            self._clock = pygame.time.Clock()
        surf = pygame.surfarray.make_surface(frame.swapaxes(0, 1))
        self._window.blit(pygame.transform.scale(surf, self._window.get_size()), (0, 0))
        pygame.event.pump()
        pygame.display.flip()
        self._clock.tick(self.metadata["render_fps"])

    def close(self) -> None:
        if self._window is not None:
            import pygame

            pygame.display.quit()
            self._window = None

    def get_state(self) -> dict[str, Any]:
        """Exact state (numpy arrays, python ints/str), including the RNG."""
        state = self._vec.get_state()
        state["env_np_random"] = generator_state(self.np_random)  # the one convention (lab.core.runtime)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        self._vec.set_state(state)
        self._np_random = numpy_generator(state["env_np_random"])
