"""Levels: ASCII text in the Mario AI Framework's notation (and VGLC's), parsed into tile arrays.

A level is up to 16 lines of equal length, one character per 16x16-pixel tile, row 0 at the
top; a level of fewer rows (VGLC's Super Mario Bros levels have 14) gets rows of sky on top.
Every character the Mario AI Framework's parser knows (src/engine/core/MarioLevel.java) and
VGLC's Super Mario Bros notation loads; kinds this game does not model map to the nearest one
it does:

    -          empty (sky)
    X          ground                      #   solid block (stairs)
    B S        brick (VGLC's B, a bullet-bill cannon top, is solid here too: no bullet bills)
    b *        bullet-bill cannon (VGLC's b, the framework's *): a solid block, fires nothing
    C L        brick with a coin (L, a 1-up in the framework, gives a coin: there are no lives)
    U          brick with a mushroom (hit from below: a mushroom comes out on top, see below)
    ? Q !      question block with a coin (VGLC's Q, an empty question block, and the framework's
               ! give a coin too)
    @          question block with a mushroom: Mario who touches the mushroom grows big (a hit then
               shrinks him instead of killing him, with 2 s of invulnerability; big Mario breaks
               plain bricks from below)
    1 2        hidden block (invisible; hit from below it gives a coin and turns solid)
    D          used (empty) block          o   coin
    t T        pipe (T's piranha plant is not modelled)
    < > [ ]    pipe parts (top left, top right, body left, body right): pipe
    %          platform you can jump through from below and stand on
    |          platform background (decoration, not solid)
    M          player start (at most one; without it, the framework's default: column 0,
               standing on its first floor from the bottom)
    F          flag pole / exit (optional: without it the exit is the level's right end)
    g G E      goomba (G's wings are dropped; E is VGLC's enemy)
    k K        green koopa: walks off ledges (K's wings are dropped)
    r R        red koopa: turns around at ledges (R's wings are dropped)
    y Y        spiny: cannot be stomped (Y's wings are dropped)

Any other character, rows of unequal length, more than 16 rows, or a start without ground
below raises `LevelError` naming the file, line and column.

    level = read_level("my_level.txt")     # envs/mario/catalog.py: load_level("intro"|PATH|"procedural")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROWS = 16
TILE = 16  # pixels per tile side
LEVELS_DIR = Path(__file__).parent / "levels"
BUILTIN_LEVELS = ("intro", "pits", "enemies", "stairs")

# Tile ids stored in the game's tile arrays (uint8).
EMPTY, GROUND, BLOCK, BRICK, BRICK_COIN, QUESTION, HIDDEN, USED, COIN, PIPE, PLATFORM, PLATFORM_BG = range(12)
QUESTION_MUSHROOM, BRICK_MUSHROOM = 12, 13  # blocks holding a mushroom
NUM_TILES = 14

# Enemy kinds (0 means "no enemy" in the game's arrays); a mushroom is an item that moves like one.
GOOMBA, KOOPA, RED_KOOPA, SPINY, SHELL, MUSHROOM = 1, 2, 3, 4, 5, 6

TILE_CHARS: dict[str, int] = {
    "-": EMPTY, "X": GROUND, "#": BLOCK,
    "B": BRICK, "S": BRICK, "C": BRICK_COIN, "L": BRICK_COIN, "U": BRICK_MUSHROOM,
    "?": QUESTION, "@": QUESTION_MUSHROOM, "Q": QUESTION, "!": QUESTION,
    "1": HIDDEN, "2": HIDDEN, "D": USED, "o": COIN,
    "t": PIPE, "T": PIPE, "<": PIPE, ">": PIPE, "[": PIPE, "]": PIPE, "%": PLATFORM, "|": PLATFORM_BG,
    "*": BLOCK, "b": BLOCK,
}
ENEMY_CHARS: dict[str, int] = {
    "g": GOOMBA, "G": GOOMBA, "E": GOOMBA, "k": KOOPA, "K": KOOPA,
    "r": RED_KOOPA, "R": RED_KOOPA, "y": SPINY, "Y": SPINY,
}
MARKER_CHARS = ("M", "F")
# Tiles a player can stand on (solid, or one-way platforms from above).
STANDABLE = {GROUND, BLOCK, BRICK, BRICK_COIN, QUESTION, USED, PIPE, PLATFORM, QUESTION_MUSHROOM, BRICK_MUSHROOM}


class LevelError(ValueError):
    """A level text that cannot be played; the message names file, line and column."""


@dataclass(frozen=True)
class Level:
    """A parsed level. `tiles` is x-major ([width, 16]) so a camera slice is contiguous."""

    name: str
    tiles: np.ndarray  # uint8 [width, ROWS] of tile ids
    start: tuple[int, int]  # (column, row) of M
    flag: tuple[int, int]  # (column, row) of F; column = width - 1 when the level has no F
    has_flag: bool
    enemies: np.ndarray  # int64 [n, 3] rows of (column, row, kind), sorted by column
    source: str = "<string>"
    text: str = field(default="", repr=False)

    @property
    def width(self) -> int:
        return int(self.tiles.shape[0])


def _where(source: str, line: int, col: int) -> str:
    return f"{source}, line {line}, column {col}"


def parse_level(text: str, source: str = "<string>", name: str | None = None) -> Level:
    """Parse Mario AI Framework (or VGLC) level text; raise LevelError with file, line, column."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and lines[-1] == "":  # trailing newlines are not rows
        lines.pop()
    if not lines:
        raise LevelError(f"{_where(source, 1, 1)}: the level is empty")
    if len(lines) > ROWS:
        raise LevelError(f"{_where(source, ROWS + 1, 1)}: level has {len(lines)} rows, at most {ROWS} (the game's height)")
    width = len(lines[0])
    if width == 0:
        raise LevelError(f"{_where(source, 1, 1)}: first row is empty")
    pad = ROWS - len(lines)  # rows of sky above a shorter level; line numbers stay the file's
    tiles = np.zeros((width, ROWS), dtype=np.uint8)
    starts: list[tuple[int, int]] = []
    flags: list[tuple[int, int]] = []
    enemies: list[tuple[int, int, int]] = []
    for i, row in enumerate(lines):
        r = i + pad
        if len(row) != width:
            raise LevelError(
                f"{_where(source, i + 1, min(len(row), width) + 1)}: row has {len(row)} characters, "
                f"expected {width} like line 1"
            )
        for c, ch in enumerate(row):
            if ch in TILE_CHARS:
                tiles[c, r] = TILE_CHARS[ch]
                if TILE_CHARS[ch] in (QUESTION_MUSHROOM, BRICK_MUSHROOM) and r > 0:
                    enemies.append((c, r - 1, MUSHROOM))  # waits inside its block until hit from below
            elif ch in ENEMY_CHARS:
                enemies.append((c, r, ENEMY_CHARS[ch]))
            elif ch == "M":
                starts.append((c, r))
            elif ch == "F":
                flags.append((c, r))
            else:
                raise LevelError(f"{_where(source, i + 1, c + 1)}: unknown tile character {ch!r}")
    line_of = lambda r: r - pad + 1  # a row's line in the file
    if len(starts) > 1:
        c, r = starts[1]
        raise LevelError(f"{_where(source, line_of(r), c + 1)}: second start 'M' (one expected)")
    if not starts:  # the framework's default: column 0, on its first floor from the bottom
        floor = _first_floor(tiles, 0)
        if floor is None:
            raise LevelError(f"{_where(source, 1, 1)}: no start 'M', and column 1 has no floor to start on")
        starts.append((0, floor))
    sc, sr = starts[0]
    if sr == 0:
        raise LevelError(f"{_where(source, line_of(sr), sc + 1)}: start 'M' on the top row leaves no room")
    if not any(int(t) in STANDABLE for t in tiles[sc, sr + 1 :]):
        raise LevelError(
            f"{_where(source, line_of(sr), sc + 1)}: start 'M' has no ground below it (the player would fall into a pit)"
        )
    below = tiles[sc, sr + 1] if sr + 1 < ROWS else EMPTY
    if int(below) not in STANDABLE and tiles[sc, sr] != EMPTY:
        raise LevelError(f"{_where(source, line_of(sr), sc + 1)}: start 'M' is inside a solid tile")
    exit_row = _first_floor(tiles, width - 1)
    flag = flags[0] if flags else (width - 1, ROWS - 3 if exit_row is None else exit_row)
    enemy_arr = np.array(sorted(enemies), dtype=np.int64).reshape(-1, 3)
    return Level(
        name=name or Path(source).stem,
        tiles=tiles,
        start=(sc, sr),
        flag=flag,
        has_flag=bool(flags),
        enemies=enemy_arr,
        source=source,
        text="\n".join(["-" * width] * pad + lines) + "\n",
    )


def _first_floor(tiles: np.ndarray, col: int) -> int | None:
    """The Mario AI Framework's findFirstFloor: from the bottom of `col`, the first empty row above
    solid ground (None if the column has none)."""
    seen_solid = False
    for r in range(ROWS - 1, -1, -1):
        if int(tiles[col, r]) in STANDABLE:
            seen_solid = True
        elif seen_solid:
            return r
    return None


def read_level(path: str | Path) -> Level:
    """Parse a level file."""
    path = Path(path)
    return parse_level(path.read_text(), source=str(path), name=path.stem)
