"""Levels as code maps, for generative models of levels: encode, cut into windows, decode.

A level becomes a [16, width] grid of codes, one per tile cell: the game's 14 tile kinds, then its
four enemy kinds (an enemy stands in an otherwise empty cell, as in the level text). The start
`M` and exit `F` are not codes (a generator would have to place exactly one of each): windows cut
from a level carry neither, and `decode` places them explicitly, the start on the first floor of
the leftmost column that has one, the exit at the last column (the Mario AI Framework's default
for a level without `F`), unless the caller gives them. A mushroom inside `@`/`U` blocks is
part of its block's code. Decoding writes one canonical character per code, so
`parse_level(decode(encode(level), level.start, level.flag))` is `level` again, up to the
characters that mean the same thing to this game (`S` and `B` are both bricks, `E` is `g`, ...).

    codes = encode(level)                        # int64 [16, width]
    wins = windows(codes, width=32, stride=4)    # int64 [n, 16, 32]
    text = decode(wins[0])                       # level text the game loads
"""

from __future__ import annotations

import numpy as np

from envs.mario.level import (
    EMPTY, GOOMBA, KOOPA, MUSHROOM, NUM_TILES, RED_KOOPA, ROWS, SPINY, STANDABLE, Level, LevelError, _first_floor,
    parse_level,
)

# One canonical character per code: tiles 0..13 in the game's tile-id order, then enemies.
TILE_CODE_CHARS = "-X#BC?1Dot%|@U"
ENEMY_KINDS = (GOOMBA, KOOPA, RED_KOOPA, SPINY)
CODE_CHARS = TILE_CODE_CHARS + "gkry"
NUM_CODES = len(CODE_CHARS)  # 18
CODE_NAMES = ("empty", "ground", "block", "brick", "brick_coin", "question", "hidden", "used", "coin", "pipe",
              "platform", "platform_bg", "question_mushroom", "brick_mushroom", "goomba", "koopa", "red_koopa",
              "spiny")
FIRST_ENEMY = NUM_TILES  # codes >= this are enemies
PIPE_CODE = TILE_CODE_CHARS.index("t")
SOLID_CODES = np.array(sorted(STANDABLE), dtype=np.int64)  # the tiles a player stands on (all < NUM_TILES)
assert len(TILE_CODE_CHARS) == NUM_TILES and len(CODE_NAMES) == NUM_CODES


def encode(level: Level) -> np.ndarray:
    """The level's code map, int64 [16, width] (row 0 at the top)."""
    codes = level.tiles.T.astype(np.int64).copy()
    for col, row, kind in level.enemies:
        if kind == MUSHROOM:  # waits inside its @/U block: the block's code says so
            continue
        codes[row, col] = FIRST_ENEMY + ENEMY_KINDS.index(int(kind))
    return codes


def first_floor(codes: np.ndarray, col: int) -> int | None:
    """The row of the first cell above solid ground from the bottom of `col` (None if none), the
    Mario AI Framework's findFirstFloor (level.py's, on the code map: enemy codes are not solid)."""
    return _first_floor(codes.T, col)


def start_cell(codes: np.ndarray) -> tuple[int, int] | None:
    """Where `decode` puts the start: the first floor of the leftmost column that has an empty
    one (None: no column has)."""
    for col in range(codes.shape[1]):
        row = first_floor(codes, col)
        if row is not None and row > 0 and codes[row, col] == EMPTY:
            return col, row
    return None


def decode(codes: np.ndarray, start: tuple[int, int] | None = None, flag: tuple[int, int] | None = None) -> str:
    """Level text for a code map (any int array [16, width] with values < NUM_CODES; a generator's
    argmax). `start`/`flag`: (column, row) of `M`/`F`; default: `start_cell` and no `F` (the exit is
    the last column). Raises LevelError when no column has a floor to start on."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] != ROWS:
        raise ValueError(f"a code map is [{ROWS}, width], got shape {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= NUM_CODES):
        raise ValueError(f"codes must be in [0, {NUM_CODES}), got {codes.min()}..{codes.max()}")
    rows = [[CODE_CHARS[c] for c in row] for row in codes.tolist()]
    if start is None:
        start = start_cell(codes)
        if start is None:
            raise LevelError("<generated>, line 1, column 1: no column has a floor to start on")
    rows[start[1]][start[0]] = "M"
    if flag is not None:
        rows[flag[1]][flag[0]] = "F"
    return "\n".join("".join(r) for r in rows) + "\n"


def to_level(codes: np.ndarray, name: str = "generated") -> Level | None:
    """The playable Level of a code map, or None when it cannot be one (no start)."""
    try:
        return parse_level(decode(codes), source=f"<{name}>", name=name)
    except LevelError:
        return None


def windows(codes: np.ndarray, width: int = 32, stride: int = 4) -> np.ndarray:
    """Every `width`-column window of a code map at columns 0, stride, 2 stride, ... that fits:
    int64 [n, 16, width] (n = 0 when the level is narrower than `width`)."""
    if width < 1 or stride < 1:
        raise ValueError(f"window width and stride must be >= 1, got {width} and {stride}")
    starts = range(0, codes.shape[1] - width + 1, stride)
    if not len(starts):
        return np.zeros((0, codes.shape[0], width), dtype=np.int64)
    return np.stack([codes[:, s:s + width] for s in starts])


def stitch(parts: np.ndarray) -> np.ndarray:
    """Consecutive windows [k, 16, w] side by side: one code map [16, k w]."""
    return np.concatenate(list(parts), axis=1)


def one_hot(codes: np.ndarray) -> np.ndarray:
    """Code maps [..., 16, w] -> float32 one-hot maps [..., NUM_CODES, 16, w]."""
    out = np.eye(NUM_CODES, dtype=np.float32)[codes]  # [..., 16, w, C]
    return np.moveaxis(out, -1, -3)


def is_tile(codes: np.ndarray) -> np.ndarray:
    """Which cells hold a tile code (not an enemy)."""
    return np.asarray(codes) < FIRST_ENEMY



def picture(codes: np.ndarray) -> np.ndarray:
    """A code map drawn with the game's art (envs/mario/render.py: level_picture), Mario at the
    decoder's start: uint8 [256, width * 16, 3]. Any map draws, playable or not."""
    from envs.mario.render import level_picture

    codes = np.asarray(codes)
    tiles = np.where(codes < FIRST_ENEMY, codes, EMPTY).T.astype(np.uint8)
    rows, cols = np.nonzero(codes >= FIRST_ENEMY)
    kinds = [ENEMY_KINDS[int(codes[r, c]) - FIRST_ENEMY] for r, c in zip(rows, cols)]
    enemies = np.array([(c, r, k) for r, c, k in zip(rows, cols, kinds)], dtype=np.int64).reshape(-1, 3)
    start = start_cell(codes)
    width = codes.shape[1]
    level = Level(name="picture", tiles=tiles, start=start or (0, 0), flag=(width - 1, ROWS - 3), has_flag=False,
                  enemies=enemies)
    return level_picture(level, player=start is not None)
