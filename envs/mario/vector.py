"""`MarioVectorEnv`: N games of the Mario-like platformer stepped by one compiled loop.

This is the `vector_entry_point` of `lab/Mario-v0`, so
`gymnasium.make_vec("lab/Mario-v0", num_envs=512, level="intro", obs="grid")` builds it.
Autoreset is gymnasium's NEXT_STEP mode (like CartPoleVectorEnv): the step after a
terminated/truncated one resets that game, ignores its action and returns reward 0,
terminated=truncated=False. `get_state()`/`set_state()` give exact checkpoints.

Keyword arguments (shared with the single env `MarioEnv`):
    level        "intro" | "pits" | "enemies" | "stairs" | "procedural" | a file path | a folder of
                 level files | a list of those: each game plays its own level, a new one drawn at
                 every reset (envs/mario/supply.py)
    train_levels level="procedural": None: one level (seed `seed`); N: the N levels with seeds
                 seed..seed+N-1; 0: unbounded (a stream of new levels through a pool)
    seed, difficulty   the first procedural seed, and the difficulty: a value in [0, 1] or [low, high]
    level_pool, level_episodes   train_levels=0: pool size; resets between new levels
    level_order  "random" (default): each reset draws a level of the set; "sequential": reset k
                 plays level k (evaluation: with as many games as levels, game i plays level i)
    level_replay share of random draws that pick a level by how often it has not been cleared so
                 far (prioritized level replay; default 0: uniform draws)
    obs          "grid": uint8 [16, 16] codes of the camera view (`GRID_CODES`)
    grid_view    obs="grid": "camera" (default): the camera's 16 columns; "player": 16 columns that
                 follow Mario (3 behind him, 12 ahead)
    grid_status  obs="grid": add a 17th row of player status codes ([17, 16]; `STATUS_CELLS` in
                 envs/mario/batch.py: position within the cell, speed, on the ground, A held, big,
                 invulnerable), what the tile view cannot show (default False: [16, 16])
                 "pixels": uint8 RGB [240, 256, 3], or [H, W] with grayscale=True
    grayscale    pixels as one luma channel
    resolution   (H, W) or an int: resample pixels to that size (84 for the usual Atari
                 setup; sampled directly from the pre-rendered level, so it is fast)
    frame_stack  k > 1 stacks the last k observations on a new leading axis
    actions      "simple" | "right_only" | "complex" (gym-super-mario-bros' sets)
    frame_skip   game frames per env step (default 4); rewards are summed
    sticky_actions  probability of repeating the previous frame's buttons (default 0)
    time_limit   level timer in SMB time units (default 400; 24 frames each)
    max_episode_steps  truncate after this many env steps (default: only the timer)
    flag_bonus   reward added on reaching the flag (default 50)

    envs = MarioVectorEnv(num_envs=256, level="intro", obs="pixels", grayscale=True, resolution=84)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.mario.actions import action_buttons, resolve_actions
from envs.mario.batch import (
    LFX, NUM_CODES, STATUS_HIGH, GameLevels, fill_stack, grid_obs, reset_batch, shift_stack, status_row, step_batch,
)
from envs.mario.engine import (
    DEAD, NP, PBIG, PCOINS, PLAYER_W, PSCORE, PSTATUS, PTIME, PWIDTH, PX, PY, SHIFT, WON, WORLD_H, make_state, seed_rng,
)
from envs.mario.level import BUILTIN_LEVELS, Level
from envs.mario.supply import LevelSupply, _key
from envs.mario.render import SCREEN_H, SCREEN_W, Renderer
from lab.core.rng import generator_state, numpy_generator

FPS = 60  # NES frames per second
# grid_view -> grid_obs's `behind`: the camera's 16 columns (Mario anywhere in the left half as the
# camera scrolls), or 16 columns that follow Mario, his own the 4th (3 behind, 12 ahead), so a
# structure ahead of him always lands on the same inputs of the policy
GRID_VIEWS = {"camera": -1, "player": 3}


def _resolution(resolution: int | tuple[int, int] | None) -> tuple[int, int]:
    if resolution is None:
        return SCREEN_H, SCREEN_W
    if isinstance(resolution, int):
        return resolution, resolution
    h, w = (int(v) for v in resolution)
    return h, w


class MarioVectorEnv(VectorEnv):
    """A batch of Mario-like games with native (compiled) vectorisation."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS // 4, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        level: str | Level | list[str] = "intro",
        obs: str = "grid",
        actions: str | list[list[str]] = "simple",
        frame_skip: int = 4,
        grayscale: bool = False,
        resolution: int | tuple[int, int] | None = None,
        frame_stack: int = 1,
        sticky_actions: float = 0.0,
        time_limit: int = 400,
        max_episode_steps: int | None = None,
        flag_bonus: float = 50.0,
        seed: int | None = None,
        difficulty: float | list[float] = 0.5,
        train_levels: int | None = None,
        level_pool: int = 64,
        level_episodes: int = 64,
        level_order: str = "random",
        level_replay: float = 0.0,
        grid_status: bool = False,
        grid_view: str = "camera",
        render_mode: str | None = None,
    ):
        if obs not in ("grid", "pixels"):
            raise ValueError(f"obs must be 'grid' or 'pixels', got {obs!r}")
        if frame_skip < 1 or frame_stack < 1 or num_envs < 1:
            raise ValueError("num_envs, frame_skip and frame_stack must be >= 1")
        if not 0.0 <= sticky_actions < 1.0:
            raise ValueError(f"sticky_actions must be in [0, 1), got {sticky_actions}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.num_envs = int(num_envs)
        self.supply = LevelSupply(level, train_levels=train_levels, difficulty=difficulty, level_seed=seed,
                                  pool=level_pool, level_episodes=level_episodes, order=level_order,
                                  replay=level_replay)
        self.obs_kind = obs
        self.grid_status = bool(grid_status) and obs == "grid"
        if grid_view not in GRID_VIEWS:
            raise ValueError(f"grid_view must be one of {', '.join(GRID_VIEWS)}, got {grid_view!r}")
        self._behind = GRID_VIEWS[grid_view]
        self.action_set = resolve_actions(actions)
        self.frame_skip = int(frame_skip)
        self.frame_stack = int(frame_stack)
        self.sticky_actions = float(sticky_actions)
        self.max_episode_steps = int(max_episode_steps or 0)
        self.flag_bonus = float(flag_bonus)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": FPS // self.frame_skip}
        self.time_limit = int(time_limit)
        self._buttons = action_buttons(self.action_set)
        self._levels = GameLevels(self.num_envs)
        self._keys: list[tuple] = [()] * self.num_envs  # the level each game plays (supply keys)
        self._state = make_state(self.num_envs, 1, 1)  # grown to fit the levels as they come
        if self.supply.fixed:
            self._assign(np.arange(self.num_envs))
        self._needs_reset = np.zeros(self.num_envs, dtype=np.bool_)
        self._all = np.arange(self.num_envs, dtype=np.int64)
        self._render_renderers: dict[tuple, Renderer] = {}

        # Observation layout: frames are drawn into buf[:, -1]; the exposed shape drops
        # the stack axis when frame_stack == 1 and the channel axis for grayscale.
        if obs == "grid":
            self._renderers = None
            frame = (17, 16) if self.grid_status else (16, 16)
            high = max(NUM_CODES - 1, STATUS_HIGH) if self.grid_status else NUM_CODES - 1
        else:
            h, w = _resolution(resolution)
            self._resolution, self._grayscale = (h, w), grayscale
            self._renderers: OrderedDict[tuple, Renderer] | None = OrderedDict()
            frame = (h, w, 1 if grayscale else 3)
            high = 255
        self._buf_shape = (self.num_envs, self.frame_stack, *frame)
        shape = frame[:2] if (obs == "pixels" and grayscale) else frame
        if self.frame_stack > 1:
            shape = (self.frame_stack, *shape)
        self._obs_shape = shape
        self.single_observation_space = spaces.Box(0, high, shape=shape, dtype=np.uint8)
        self.single_action_space = spaces.Discrete(len(self.action_set))
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._obs = np.zeros(self._buf_shape, dtype=np.uint8)

    # --- observations -------------------------------------------------------------
    def _observe(self, fresh: np.ndarray) -> np.ndarray:
        """New observation array: shift the stacks, draw this frame, fill fresh stacks."""
        out = np.empty(self._buf_shape, dtype=np.uint8)
        n, k = self.num_envs, self.frame_stack
        if k > 1:
            shift_stack(out.reshape(n, k, -1), self._obs.reshape(n, k, -1), fresh)
        P, E, T = self._state["P"], self._state["E"], self._state["T"]
        if self._renderers is None:
            grid_obs(out, k - 1, P, E, T, self._levels.ints, self._behind)
            if self.grid_status:
                status_row(out, k - 1, P)
        elif self.supply.fixed:
            self._renderer(self._keys[0]).draw(out, P, E, T, k - 1)
        else:  # one pre-rendered background per level: draw the games of each level together
            groups: dict[tuple, list[int]] = {}
            for i, key in enumerate(self._keys):
                groups.setdefault(key, []).append(i)
            for key, games in groups.items():
                self._renderer(key).draw(out, P, E, T, k - 1, np.array(games, dtype=np.int64))
        if k > 1:
            fill_stack(out.reshape(n, k, -1), fresh)
        self._obs = out
        return out.reshape((self.num_envs, *self._obs_shape))

    def _renderer(self, key: tuple) -> Renderer:
        """The renderer of a level (its background pre-rendered once; the 64 most recent kept)."""
        r = self._renderers.get(key)
        if r is None:
            h, w = self._resolution
            r = self._renderers[key] = Renderer(self.supply.data(key).level, h, w, self._grayscale)
            if len(self._renderers) > 64:
                self._renderers.popitem(last=False)
        else:
            self._renderers.move_to_end(key)
        return r

    def _assign(self, games: np.ndarray) -> None:
        """Give each of `games` its next level from the supply (played from its next reset on)."""
        for i in games:
            key, data = self.supply.draw()
            self._fit(data.level.width, len(data.level.enemies))
            self._levels.assign(int(i), data)
            self._keys[int(i)] = key

    def _fit(self, width: int, n_enemies: int) -> None:
        """Grow the state arrays so a level of this size fits (padding is never read)."""
        s = self._state
        if width > s["T"].shape[1]:
            T = np.zeros((self.num_envs, width, 16), dtype=np.uint8)
            T[:, : s["T"].shape[1]] = s["T"]
            s["T"] = T
        if n_enemies > s["E"].shape[1]:
            E = np.zeros((self.num_envs, n_enemies, s["E"].shape[2]), dtype=np.int64)
            E[:, : s["E"].shape[1]] = s["E"]
            s["E"] = E
        self._levels.grow(width, n_enemies)

    @property
    def level(self) -> Level:
        """The level game 0 plays (the level of every game when the env plays one level)."""
        return self._levels.data[0].level if self._levels.data[0] is not None else self.supply.data(
            self.supply.keys[0]).level

    @property
    def levels(self) -> list[Level]:
        """The level each game plays."""
        return [d.level for d in self._levels.data]

    def _info(self) -> dict[str, Any]:
        P = self._state["P"]
        status = P[:, PSTATUS]
        values = {
            "x_pos": P[:, PX] >> SHIFT,
            "y_pos": WORLD_H - 16 - (P[:, PY] >> SHIFT),
            "coins": P[:, PCOINS].copy(),
            "flag_get": status == WON,
            "life": (status != DEAD).astype(np.int64),
            "time": P[:, PTIME].copy(),
            "score": P[:, PSCORE].copy(),
            "big": P[:, PBIG] == 1,
            # how far into its level each game got: the right edge of Mario over the flag's x (1 on the flag)
            "progress": np.minimum((P[:, PX] >> SHIFT) + PLAYER_W, self._levels.ints[:, LFX])
            / np.maximum(self._levels.ints[:, LFX], 1),
        }
        mask = np.ones(self.num_envs, dtype=np.bool_)
        info: dict[str, Any] = {}
        for k, v in values.items():
            info[k] = v
            info["_" + k] = mask
        return info

    # --- gymnasium API --------------------------------------------------------------
    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        """Reset every game; `seed` seeds game i with seed + i (sticky-action RNG)."""
        if isinstance(seed, (list, tuple)):
            seeds = [int(s) for s in seed]
            super().reset(seed=seeds[0])
        else:
            super().reset(seed=seed)
            if seed is not None:
                seeds = [int(seed) + i for i in range(self.num_envs)]
            else:
                seeds = [int(s) for s in self.np_random.integers(0, 2**62, size=self.num_envs)]
        rng = self._state["rng"]
        for i, s in enumerate(seeds):
            seed_rng(rng, i, s)
        if not self.supply.fixed:
            self.supply.seed(seeds[0])
            self._assign(self._all)
        lv = self._levels
        P, E, T = self._state["P"], self._state["E"], self._state["T"]
        reset_batch(self._all, P, E, T, lv.base, lv.spawns, lv.ints, self.time_limit)
        self._needs_reset[:] = False
        obs = self._observe(np.ones(self.num_envs, dtype=np.bool_))
        return obs, self._info()

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        if actions.min(initial=0) < 0 or actions.max(initial=0) >= len(self.action_set):
            raise ValueError(f"actions must be in [0, {len(self.action_set)}), got {actions}")
        rewards = np.empty(self.num_envs, dtype=np.float64)
        terminated = np.empty(self.num_envs, dtype=np.bool_)
        truncated = np.empty(self.num_envs, dtype=np.bool_)
        fresh = self._needs_reset.copy()
        if not self.supply.fixed and fresh.any():
            games = np.flatnonzero(fresh)
            if self.supply.replay:  # how the episodes that ended went, on which levels (level_replay)
                self.supply.record([self._keys[i] for i in games], self._state["P"][games, PSTATUS] == WON)
            self._assign(games)  # the games this step resets start their next level
        lv = self._levels
        s = self._state
        step_batch(actions, fresh, s["P"], s["E"], s["T"], s["rng"], self._buttons, lv.base, lv.spawns, lv.ints,
                   self.time_limit, self.frame_skip, self.sticky_actions, self.flag_bonus, self.max_episode_steps,
                   rewards, terminated, truncated)
        self._needs_reset = terminated | truncated
        obs = self._observe(fresh)
        return obs, rewards, terminated, truncated, self._info()

    def render(self) -> tuple[np.ndarray, ...] | None:
        """rgb_array: one 240x256x3 frame per game."""
        if self.render_mode is None:
            return None
        frames = np.empty((self.num_envs, 1, SCREEN_H, SCREEN_W, 3), dtype=np.uint8)
        s = self._state
        groups: dict[tuple, list[int]] = {}
        for i, key in enumerate(self._keys):
            groups.setdefault(key, []).append(i)
        for key, games in groups.items():
            r = self._render_renderers.get(key)
            if r is None:
                if len(self._render_renderers) >= 16:
                    self._render_renderers.clear()
                r = self._render_renderers[key] = Renderer(self.supply.data(key).level)
            r.draw(frames, s["P"], s["E"], s["T"], 0, np.array(games, dtype=np.int64))
        return tuple(frames[:, 0])

    # --- exact checkpoints ------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Everything that determines the future: numpy arrays, python ints/str, and the generator's
        state as lab.core.rng saves every generator's (a dict of plain values)."""
        state: dict[str, Any] = {k: v.copy() for k, v in self._state.items()}
        state["needs_reset"] = self._needs_reset.copy()
        state["obs"] = self._obs.copy()
        state["num_envs"] = self.num_envs
        state["level"] = self.supply.name
        if not self.supply.fixed:
            state["level_keys"] = [list(k) for k in self._keys]
            state["supply"] = self.supply.state_dict()
        if self._np_random is not None:
            state["np_random"] = generator_state(self._np_random)  # the one convention (lab.core.runtime)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a `get_state()` dict (same num_envs, level and obs settings)."""
        if state["num_envs"] != self.num_envs or state["level"] != self.supply.name:
            raise ValueError(
                f"state is for {state['num_envs']} games of level {state['level']!r}; this env has "
                f"{self.num_envs} of {self.supply.name!r}"
            )
        P = state["P"]
        if P.shape[1] == NP - 3:  # saved before games carried their level's width (one level for all)
            P = np.concatenate([P, np.full((self.num_envs, 1), self.level.width, dtype=P.dtype)], axis=1)
        if P.shape[1] == NP - 2:  # saved before the power-up (small Mario, never hit)
            P = np.concatenate([P, np.zeros((self.num_envs, 2), dtype=P.dtype)], axis=1)
        if not self.supply.fixed:
            self.supply.load_state_dict(state["supply"])
            keys = [_key(k) for k in state["level_keys"]]
            for i, key in enumerate(keys):
                data = self.supply.data(key)
                self._fit(data.level.width, len(data.level.enemies))
                self._levels.assign(i, data)
            self._keys = keys
        for k, v in list(self._state.items()):
            saved = P if k == "P" else state[k]
            # T and E are as wide as the widest level so far (columns past a game's level are never read)
            flexible = k in ("T", "E")
            if saved.shape[0] != v.shape[0] or saved.shape[2 if flexible else 1:] != v.shape[2 if flexible else 1:]:
                raise ValueError(f"state[{k!r}] has shape {saved.shape}, expected {v.shape}")
            self._state[k] = saved.astype(v.dtype, copy=True)
        self._levels.grow(self._state["T"].shape[1], self._state["E"].shape[1])
        if state["obs"].shape != self._obs.shape:
            raise ValueError(f"state['obs'] has shape {state['obs'].shape}, expected {self._obs.shape}")
        self._obs = state["obs"].copy()
        self._needs_reset = state["needs_reset"].copy()
        if "np_random" in state:
            self._np_random = numpy_generator(state["np_random"])

    def close(self, **kwargs: Any) -> None:
        self.supply.close()
        super().close(**kwargs)

    @property
    def stage(self) -> int:
        """The built-in level's number (1-based), 0 for other levels."""
        return BUILTIN_LEVELS.index(self.level.name) + 1 if self.level.name in BUILTIN_LEVELS else 0
