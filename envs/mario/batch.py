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
    ACTIVE, ALIVE, BTN_A, DEAD, EKIND, ESTATE, EX, EY, PBIG, PCAM, PGROUND, PINV, PPREV_BTN, PSTATUS, PSTEPS,
    PVX, PVY, PWIDTH, PX, PY, SHIFT, TIMEUP, WON, game_frame, rand_unit, reset_game,
)
from envs.mario.level import (
    BLOCK, BRICK, BRICK_COIN, BRICK_MUSHROOM, COIN, GOOMBA, GROUND, KOOPA, MUSHROOM, NUM_TILES, PIPE, PLATFORM,
    QUESTION, QUESTION_MUSHROOM, RED_KOOPA, SHELL, SPINY, USED, Level,
)

# Grid observation codes (uint8).
GRID_CODES: dict[str, int] = {
    "empty": 0, "solid": 1, "brick": 2, "question": 3, "coin": 4, "platform": 5,
    "flag": 6, "player": 7, "goomba": 8, "koopa": 9, "shell": 10, "spiny": 11, "mushroom": 12,
}
NUM_CODES = len(GRID_CODES)
# Tile id -> grid code. Hidden blocks and decorations look empty, as on screen; bricks
# with a coin look like bricks.
TILE_CODE = np.zeros(NUM_TILES, dtype=np.uint8)
TILE_CODE[[GROUND, BLOCK, USED, PIPE]] = GRID_CODES["solid"]
TILE_CODE[[BRICK, BRICK_COIN, BRICK_MUSHROOM]] = GRID_CODES["brick"]
TILE_CODE[[QUESTION, QUESTION_MUSHROOM]] = GRID_CODES["question"]
TILE_CODE[COIN] = GRID_CODES["coin"]
TILE_CODE[PLATFORM] = GRID_CODES["platform"]
# Enemy kind -> grid code.
ENEMY_CODE = np.zeros(MUSHROOM + 1, dtype=np.uint8)
ENEMY_CODE[GOOMBA] = GRID_CODES["goomba"]
ENEMY_CODE[KOOPA] = ENEMY_CODE[RED_KOOPA] = GRID_CODES["koopa"]
ENEMY_CODE[SHELL] = GRID_CODES["shell"]
ENEMY_CODE[SPINY] = GRID_CODES["spiny"]
ENEMY_CODE[MUSHROOM] = GRID_CODES["mushroom"]
FLAG_CODE = GRID_CODES["flag"]
PLAYER_CODE = GRID_CODES["player"]
SOLID_CODE = GRID_CODES["solid"]


# The integers of a level the kernels read, one row per game in `GameLevels.ints`.
LW, LNS, LSX, LSY, LFX, LFC, LFT, LFR = range(8)  # width, spawns, start x/y, flag x, flag grid col/top/row


class LevelData:
    """A level as the kernels take it (arrays and ints), built once per level."""

    def __init__(self, level: Level):
        from envs.mario.engine import level_arrays

        self.level = level
        self.base, self.spawns, self.start_x, self.start_y, self.flag_x = level_arrays(level)
        self.n_spawns = len(level.enemies)
        fc, fr = level.flag
        # The pole's rows in the grid (same span as the picture draws).
        flag_col = fc if level.has_flag else -1
        self.ints = np.array([level.width, self.n_spawns, self.start_x, self.start_y, self.flag_x, flag_col,
                              max(fr - 9, 1), fr], dtype=np.int64)


class GameLevels:
    """Which level each game of a batch plays, as the kernels read it: row i of every array is game
    i's level (its tiles padded to the widest level so far). A game takes its level's arrays when it
    is assigned one; the kernels copy them into the game's state at its next reset."""

    def __init__(self, num_envs: int, width: int = 1, n_enemies: int = 1):
        self.base = np.zeros((num_envs, width, 16), dtype=np.uint8)
        self.spawns = np.zeros((num_envs, max(n_enemies, 1), 3), dtype=np.int64)
        self.ints = np.zeros((num_envs, 8), dtype=np.int64)
        self.data: list[LevelData | None] = [None] * num_envs

    @property
    def width(self) -> int:
        return self.base.shape[1]

    @property
    def n_enemies(self) -> int:
        return self.spawns.shape[1]

    def grow(self, width: int, n_enemies: int) -> None:
        """Room for levels up to `width` tiles with `n_enemies` spawns (existing rows kept)."""
        n = self.base.shape[0]
        if width > self.width:
            base = np.zeros((n, width, 16), dtype=np.uint8)
            base[:, : self.width] = self.base
            self.base = base
        if n_enemies > self.n_enemies:
            spawns = np.zeros((n, n_enemies, 3), dtype=np.int64)
            spawns[:, : self.n_enemies] = self.spawns
            self.spawns = spawns

    def assign(self, i: int, data: LevelData) -> None:
        """Game i plays `data`'s level from its next reset on (call grow first if it may not fit)."""
        w, ns = data.base.shape[0], data.spawns.shape[0]
        self.base[i, :w] = data.base
        self.spawns[i, :ns] = data.spawns
        self.spawns[i, ns:] = 0
        self.ints[i] = data.ints
        self.data[i] = data


@njit
def reset_batch(envs, P, E, T, lbase, lspawn, lint, time_limit):
    for k in range(envs.shape[0]):
        i = envs[k]
        reset_game(i, P, E, T, lbase[i, : lint[i, LW]], lspawn[i], lint[i, LNS], lint[i, LSX], lint[i, LSY],
                   time_limit)


@njit
def step_batch(actions, needs_reset, P, E, T, rng, buttons, lbase, lspawn, lint, time_limit, frame_skip, sticky,
               flag_bonus, max_steps, rewards, terminated, truncated):
    """One agent step for every game; a game flagged `needs_reset` is reset instead (its action
    ignored, reward 0, not done) - gymnasium's NEXT_STEP autoreset. Game i plays the level in row i
    of lbase/lspawn/lint (`GameLevels`)."""
    for i in range(actions.shape[0]):
        if needs_reset[i]:
            reset_game(i, P, E, T, lbase[i, : lint[i, LW]], lspawn[i], lint[i, LNS], lint[i, LSX], lint[i, LSY],
                       time_limit)
            rewards[i] = 0.0
            terminated[i] = False
            truncated[i] = False
            continue
        btn = buttons[actions[i]]
        flag_x = lint[i, LFX]
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
def grid_obs(out, slot, P, E, T, lint, behind=-1):
    """out[i, slot] ([16, 16] uint8): the camera's view in GRID_CODES, enemies and player marked;
    with `behind` >= 0 the 16 columns follow the player instead (his column is column `behind`, the
    rest lie ahead, whatever the camera does; left of the level is solid)."""
    for i in range(out.shape[0]):
        W = P[i, PWIDTH]
        flag_col, flag_top, flag_row = lint[i, LFC], lint[i, LFT], lint[i, LFR]
        g = out[i, slot]
        player_col = ((P[i, PX] >> SHIFT) + 6) // 16
        c0 = (P[i, PCAM] + 8) // 16 if behind < 0 else player_col - behind
        for j in range(16):
            c = c0 + j
            if c >= W or c < 0:
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
        c = player_col - c0
        r = ((P[i, PY] >> SHIFT) + 8) // 16
        for k in range(1 + P[i, PBIG]):  # big Mario fills two cells
            if 0 <= c < 16 and 0 <= r + k < 16:
                g[r + k, c] = PLAYER_CODE


# The status row (`grid_status=True`): what the 16x16 tile view cannot show, one small code per
# cell of a 17th row. The view puts Mario in a 16 px cell, so it hides where he is within it, his
# speed, whether he is on the ground, and whether A is still held from the last step (a jump
# starts only on a new press, so an agent pressed against a pipe that keeps choosing "right A"
# never jumps): without them a memoryless policy cannot time a jump. Each value is below 16.
STATUS_CELLS = ("x_in_cell", "y_in_cell", "vx", "vy", "ground", "a_held", "big", "invulnerable")
STATUS_HIGH = 15


@njit
def status_row(out, slot, P):
    """out[i, slot, 16] ([16] uint8): the player's status codes (STATUS_CELLS), the rest 0."""
    for i in range(out.shape[0]):
        row = out[i, slot, 16]
        row[:] = 0
        row[0] = ((P[i, PX] >> SHIFT) + 6) % 16  # the same cell rule as grid_obs's player mark
        row[1] = ((P[i, PY] >> SHIFT) + 8) % 16
        row[2] = min(max((P[i, PVX] + 0x1000) >> 10, 0), STATUS_HIGH)  # 1/4 px/frame steps, 4 = still, 14 = run
        row[3] = min(max((P[i, PVY] + 0x5000) >> 12, 0), STATUS_HIGH)  # 1 px/frame steps, 5 = still
        row[4] = P[i, PGROUND]
        row[5] = 1 if (P[i, PPREV_BTN] & BTN_A) != 0 else 0
        row[6] = P[i, PBIG]
        row[7] = 1 if P[i, PINV] > 0 else 0
