"""The real NES Super Mario Bros (gym-super-mario-bros on the nes-py emulator) as a Gymnasium env.

gym-super-mario-bros 7.4 / nes-py 8.2 speak the legacy `gym` API and need numpy<2, so they live
in the optional `smb` extra, installed in a venv of its own (`INSTALL` below; .ci/run tests the
adapter in .venv-smb). Without them `lab/SMB-v0` is still registered (by `envs/__init__.py`, no
import cost) and building it raises one EnvError line that says how to install them.

One `SMBEnv` per sub-env, its observation pipeline matching the lab's own game (`lab/Mario-v0`,
envs/mario/vector.py) for the same settings, so one agent config runs on both:

    SuperMarioBrosEnv (one NES frame per step, legacy API)   the gym-super-mario-bros `game` id
    JoypadSpace(actions)                                     right_only | simple | complex, or button lists
    frame skip k: action held k frames, rewards summed, the last two frames max-pooled
    resolution: nearest-neighbour resample of the 240x256 screen (the lab game's sampling)
    grayscale: ITU-R 601 luma (envs.mario.render.to_gray's), (H, W) instead of (H, W, 3)
    frame_stack k > 1: (k, ...) with the first frame repeated after a reset

The SMB env's own `done` (death, flag, time up in a single-stage game; game over in the whole
game) is split Gymnasium's way: the clock running out is `truncated`, anything else
`terminated`. The game is deterministic: `reset(seed=...)` seeds only `np_random`. The emulator's
state lives in C++, so checkpoints cannot hold it (envs/state.py): a resumed run restarts its
episodes. Vectorised by `envs.make_vec` (Gymnasium's sync/async vector env, NEXT_STEP autoreset).

    env = gymnasium.make("lab/SMB-v0", game="SuperMarioBros-1-1-v0", grayscale=True, resolution=84, frame_stack=4)
    envs = envs.make_vec("lab/SMB-v0", 8, kwargs=dict(actions="simple", frame_skip=4))
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from typing import Any

import gymnasium as gym
import numpy as np

from envs.errors import EnvError

ENV_ID = "lab/SMB-v0"
SCREEN_H, SCREEN_W = 240, 256
FPS = 60
INFO_KEYS = ("x_pos", "y_pos", "coins", "flag_get", "life", "time", "status", "world", "stage", "score")

INSTALL = ("env=smb (the real NES Super Mario Bros) needs the `smb` extra in its own environment "
           "(gym-super-mario-bros 7.4 pins numpy<2 and the legacy gym): python3 -m venv .venv-smb && "
           ". .venv-smb/bin/activate && pip install torch==2.13.0 && pip install -e '.[smb]'")


def available() -> bool:
    """Whether gym-super-mario-bros and nes-py can be imported (without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("gym_super_mario_bros", "nes_py"))


def register() -> None:
    """Register `lab/SMB-v0` (safe to call more than once; imports nothing of the NES packages)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="envs.smb:SMBEnv")


def _nes_modules() -> tuple[Any, Any, Any]:
    """(gym_super_mario_bros, its actions module, nes_py's JoypadSpace), or the install hint."""
    if not available():
        raise EnvError(INSTALL)
    import contextlib
    import io
    import warnings

    # The legacy gym prints its end-of-life notice on import: this adapter is the upgrade it asks for.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        import gym_super_mario_bros
        from gym_super_mario_bros import actions
        from nes_py.wrappers import JoypadSpace
    return gym_super_mario_bros, actions, JoypadSpace


def action_sets() -> dict[str, list[list[str]]]:
    """gym-super-mario-bros' action sets by the lab's names (envs/mario/actions.py has the same)."""
    _, actions, _ = _nes_modules()
    return {"right_only": actions.RIGHT_ONLY, "simple": actions.SIMPLE_MOVEMENT, "complex": actions.COMPLEX_MOVEMENT}


def _make_game(game: str) -> Any:
    """The raw legacy SuperMarioBrosEnv of a gym-super-mario-bros id (no legacy gym wrappers:
    gym 0.26's make would add checkers that expect its new 5-tuple API)."""
    _nes_modules()  # registers the ids with the legacy gym
    import gym as legacy_gym

    ids = [k for k in legacy_gym.envs.registry if k.startswith("SuperMarioBros")]
    if game not in ids:
        close = difflib.get_close_matches(game, ids, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; e.g. SuperMarioBros-1-1-v0 or SuperMarioBros-v0"
        raise EnvError(f"unknown gym-super-mario-bros game '{game}'{hint}")
    spec = legacy_gym.envs.registry[game]
    module, _, name = spec.entry_point.partition(":")
    return getattr(importlib.import_module(module), name)(**spec.kwargs)


def _resolution(resolution: int | tuple[int, int] | list[int] | None) -> tuple[int, int]:
    if resolution is None:
        return SCREEN_H, SCREEN_W
    h, w = (resolution, resolution) if isinstance(resolution, int) else (int(v) for v in resolution)
    if not (1 <= h <= SCREEN_H and 1 <= w <= SCREEN_W):
        raise ValueError(f"resolution must be within {SCREEN_H}x{SCREEN_W}, got {h}x{w}")
    return h, w


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, rounded, as the lab game (envs.mario.render.to_gray) and OpenCV compute it."""
    g = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(np.round(g), 0, 255).astype(np.uint8)


class SMBEnv(gym.Env):
    """One NES Super Mario Bros game with the lab's pixel pipeline; Gymnasium 1.x API."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS // 4}

    def __init__(self, game: str = "SuperMarioBros-1-1-v0", actions: str | list[list[str]] = "simple",
                 frame_skip: int = 4, obs: str = "pixels", grayscale: bool = False,
                 resolution: int | tuple[int, int] | None = None, frame_stack: int = 1,
                 render_mode: str | None = None):
        _, _, JoypadSpace = _nes_modules()
        if obs != "pixels":
            raise ValueError(f"env=smb observes pixels only (obs=pixels), got obs={obs!r}: "
                             "the NES game has no tile grid")
        if frame_skip < 1 or frame_stack < 1:
            raise ValueError("frame_skip and frame_stack must be >= 1")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        if isinstance(actions, str):
            sets = action_sets()
            if actions not in sets:
                raise ValueError(f"unknown action set {actions!r}: expected one of {', '.join(sets)}")
            self.action_set = [list(c) for c in sets[actions]]
        else:
            self.action_set = [list(c) for c in actions]
            buttons = JoypadSpace.buttons()
            for name in {b for c in self.action_set for b in c} - set(buttons):
                raise ValueError(f"unknown button {name!r} in actions: expected one of {', '.join(buttons)}")
        self.game = game
        self._raw = _make_game(game)
        self._joypad = JoypadSpace(self._raw, self.action_set)  # action index -> NES button byte
        self.frame_skip, self.frame_stack, self.grayscale = int(frame_skip), int(frame_stack), bool(grayscale)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": FPS // self.frame_skip}
        h, w = _resolution(resolution)
        # Nearest-neighbour sampling of the screen, row i <- i*240//H, as the lab game samples its world.
        self._rows = None if h == SCREEN_H else np.arange(h) * SCREEN_H // h
        self._cols = None if w == SCREEN_W else np.arange(w) * SCREEN_W // w
        frame = (h, w) if self.grayscale else (h, w, 3)
        shape = (self.frame_stack, *frame) if self.frame_stack > 1 else frame
        self.observation_space = gym.spaces.Box(0, 255, shape=shape, dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(len(self.action_set))
        self._stack = np.zeros((self.frame_stack, *frame), dtype=np.uint8)
        self._last_rgb = np.zeros((SCREEN_H, SCREEN_W, 3), dtype=np.uint8)
        self._done = True

    # --- observations ---------------------------------------------------------------
    def _frame(self, rgb: np.ndarray) -> np.ndarray:
        if self._rows is not None:
            rgb = rgb[self._rows]
        if self._cols is not None:
            rgb = rgb[:, self._cols]
        return to_gray(rgb) if self.grayscale else rgb

    def _observe(self, rgb: np.ndarray, fresh: bool) -> np.ndarray:
        frame = self._frame(rgb)
        if fresh:
            self._stack[:] = frame  # a new episode's stack repeats its first frame
        else:
            self._stack[:-1] = self._stack[1:]
            self._stack[-1] = frame
        return self._stack.copy() if self.frame_stack > 1 else self._stack[0].copy()

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        # numpy scalars -> python values, so vector envs batch them into plain int/bool arrays
        return {k: v if isinstance(v, str) else bool(v) if isinstance(v, (bool, np.bool_)) else int(v)
                for k, v in info.items()}

    # --- gymnasium API ---------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)  # the game itself has no randomness: the seed only sets np_random
        screen = self._raw.reset()  # restores the snapshot taken after the start screen
        self._done = False
        self._last_rgb = np.array(screen)  # the emulator's buffer is overwritten in place
        return self._observe(self._last_rgb, fresh=True), self._info(self._raw._get_info())

    def step(self, action: int):
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset() first")
        total, pooled = 0.0, None
        for i in range(self.frame_skip):
            screen, reward, done, info = self._joypad.step(int(action))
            total += reward
            if i == self.frame_skip - 2:
                pooled = np.array(screen)  # NES sprites flicker: max-pool the last two frames
            if done:
                break
        self._last_rgb = np.array(screen)
        frame = self._last_rgb if pooled is None else np.maximum(pooled, self._last_rgb)
        info = self._info(info)
        # The SMB env's done covers death, the flag and the clock; only the clock is a time limit.
        time_up = done and info["time"] == 0 and not info["flag_get"]
        self._done = done
        return self._observe(frame, fresh=False), total, done and not time_up, time_up, info

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() without a render_mode: make the env with render_mode='rgb_array'")
            return None
        return self._last_rgb.copy()

    def close(self) -> None:
        raw = getattr(self, "_raw", None)
        if raw is not None and raw._env is not None:
            raw.close()
