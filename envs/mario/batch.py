"""Compiled loops over a batch of games: one agent step (frame skip, sticky actions,
next-step autoreset) and the symbolic grid observation.

The grid is the camera's view as 16 rows x 16 columns of small codes (`GRID_CODES`):
what a tile-based agent needs, and 256 bytes per observation.

    step_batch(actions, needs_reset, P, E, T, rng, buttons, ...); grid_obs(out, P, E, T, ...)
"""

from __future__ import annotations

import numpy as np

from envs.mario._jit import njit
from envs.mario.engine import (
    ACTIVE, ALIVE, DEAD, EKIND, ESTATE, EX, EY, PCAM, PPREV_BTN, PSTATUS, PSTEPS, PX, PY,
    SHIFT, TIMEUP, WON, game_frame, rand_unit, reset_game,
)
from envs.mario.level import (
    BLOCK, BRICK, BRICK_COIN, COIN, GOOMBA, GROUND, KOOPA, NUM_TILES, PIPE, PLATFORM,
    QUESTION, RED_KOOPA, SHELL, SPINY, USED, Level,
)

# Grid observation codes (uint8).
GRID_CODES: dict[str, int] = {
    "empty": 0, "solid": 1, "brick": 2, "question": 3, "coin": 4, "platform": 5,
    "flag": 6, "player": 7, "goomba": 8, "koopa": 9, "shell": 10, "spiny": 11,
}
NUM_CODES = len(GRID_CODES)
# Tile id -> grid code. Hidden blocks and decorations look empty, as on screen; bricks
# with a coin look like bricks.
TILE_CODE = np.zeros(NUM_TILES, dtype=np.uint8)
TILE_CODE[[GROUND, BLOCK, USED, PIPE]] = GRID_CODES["solid"]
TILE_CODE[[BRICK, BRICK_COIN]] = GRID_CODES["brick"]
TILE_CODE[QUESTION] = GRID_CODES["question"]
TILE_CODE[COIN] = GRID_CODES["coin"]
TILE_CODE[PLATFORM] = GRID_CODES["platform"]
# Enemy kind -> grid code.
ENEMY_CODE = np.zeros(SHELL + 1, dtype=np.uint8)
ENEMY_CODE[GOOMBA] = GRID_CODES["goomba"]
ENEMY_CODE[KOOPA] = ENEMY_CODE[RED_KOOPA] = GRID_CODES["koopa"]
ENEMY_CODE[SHELL] = GRID_CODES["shell"]
ENEMY_CODE[SPINY] = GRID_CODES["spiny"]
FLAG_CODE = GRID_CODES["flag"]
PLAYER_CODE = GRID_CODES["player"]
SOLID_CODE = GRID_CODES["solid"]


class LevelData:
    """A level as the kernels take it (arrays and ints), built once per env."""

    def __init__(self, level: Level, time_limit: int):
        from envs.mario.engine import level_arrays

        self.level = level
        self.base, self.spawns, self.start_x, self.start_y, self.flag_x = level_arrays(level)
        self.n_spawns = len(level.enemies)
        self.time_limit = int(time_limit)
        fc, fr = level.flag
        # The pole's rows in the grid (same span as the picture draws).
        self.flag_col = fc if level.has_flag else -1
        self.flag_top = max(fr - 9, 1)
        self.flag_row = fr


@njit
def reset_batch(envs, P, E, T, base, spawns, n_spawns, start_x, start_y, time_limit):
    for k in range(envs.shape[0]):
        reset_game(envs[k], P, E, T, base, spawns, n_spawns, start_x, start_y, time_limit)


@njit
def step_batch(actions, needs_reset, P, E, T, rng, buttons, base, spawns, n_spawns, start_x,
               start_y, flag_x, time_limit, frame_skip, sticky, flag_bonus, max_steps,
               rewards, terminated, truncated):
    """One agent step for every game; a game flagged `needs_reset` is reset instead
    (its action ignored, reward 0, not done) - gymnasium's NEXT_STEP autoreset."""
    for i in range(actions.shape[0]):
        if needs_reset[i]:
            reset_game(i, P, E, T, base, spawns, n_spawns, start_x, start_y, time_limit)
            rewards[i] = 0.0
            terminated[i] = False
            truncated[i] = False
            continue
        btn = buttons[actions[i]]
        r = 0.0
        for _ in range(frame_skip):
            b = btn
            # Sticky actions (Machado et al. 2018): repeat the last frame's buttons.
            if sticky > 0.0 and rand_unit(rng, i) < sticky:
                b = P[i, PPREV_BTN]
            r += game_frame(i, b, P, E, T, flag_x, flag_bonus)
            if P[i, PSTATUS] != ALIVE:
                break
        P[i, PSTEPS] += 1
        st = P[i, PSTATUS]
        term = st == DEAD or st == WON
        terminated[i] = term
        truncated[i] = (not term) and (st == TIMEUP or (max_steps > 0 and P[i, PSTEPS] >= max_steps))
        rewards[i] = r


@njit
def shift_stack(out, prev, fresh):
    """Frame stacking on [N, K, frame_size] views: out[i, :-1] = prev[i, 1:] (fresh
    games are filled by fill_stack once their new frame is drawn)."""
    K = out.shape[1]
    for i in range(out.shape[0]):
        if fresh[i]:
            continue
        for k in range(K - 1):
            out[i, k, :] = prev[i, k + 1, :]


@njit
def fill_stack(out, fresh):
    """A fresh (just reset) game's stack repeats its first frame ([N, K, F] views)."""
    K = out.shape[1]
    for i in range(out.shape[0]):
        if fresh[i]:
            for k in range(K - 1):
                out[i, k, :] = out[i, K - 1, :]


@njit
def grid_obs(out, slot, P, E, T, flag_col, flag_top, flag_row):
    """out[i, slot] ([16, 16] uint8): the camera's view in GRID_CODES, enemies and player marked."""
    W = T.shape[1]
    for i in range(out.shape[0]):
        g = out[i, slot]
        c0 = (P[i, PCAM] + 8) // 16
        for j in range(16):
            c = c0 + j
            if c >= W:
                for r in range(16):
                    g[r, j] = SOLID_CODE
                continue
            col = T[i, c]
            for r in range(16):
                g[r, j] = TILE_CODE[col[r]]
        if c0 <= flag_col < c0 + 16:
            for r in range(flag_top, flag_row + 1):
                if g[r, flag_col - c0] == 0:
                    g[r, flag_col - c0] = FLAG_CODE
        for e in range(E.shape[1]):
            if E[i, e, ESTATE] != ACTIVE:
                continue
            c = ((E[i, e, EX] >> SHIFT) + 8) // 16 - c0
            r = ((E[i, e, EY] >> SHIFT) + 8) // 16
            if 0 <= c < 16 and 0 <= r < 16:
                g[r, c] = ENEMY_CODE[E[i, e, EKIND]]
        c = ((P[i, PX] >> SHIFT) + 6) // 16 - c0
        r = ((P[i, PY] >> SHIFT) + 8) // 16
        if 0 <= c < 16 and 0 <= r < 16:
            g[r, c] = PLAYER_CODE
