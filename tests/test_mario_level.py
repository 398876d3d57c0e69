"""Level parser: every supported character, and clear errors naming file, line, column."""

from pathlib import Path

import numpy as np
import pytest

from envs.mario.catalog import load_level
from envs.mario.level import (
    BLOCK, BRICK, BRICK_COIN, BRICK_MUSHROOM, BUILTIN_LEVELS, COIN, EMPTY, GOOMBA, GROUND, HIDDEN, KOOPA, MUSHROOM,
    PIPE, PLATFORM, PLATFORM_BG, QUESTION, QUESTION_MUSHROOM, RED_KOOPA, SPINY, USED, LevelError, read_level,
)

ALL_TILES = "-X#BSCLU?@Q!12DotT%|gGkKrRyY"


def _level_text(width: int = 40, row13: str | None = None, extra: dict[int, str] | None = None) -> list[str]:
    rows = ["-" * width for _ in range(16)]
    rows[14] = rows[15] = "X" * width
    rows[13] = row13 if row13 is not None else "--M" + "-" * (width - 4) + "F"
    for r, text in (extra or {}).items():
        rows[r] = text.ljust(width, "-")
    return rows


def _write(tmp_path: Path, rows: list[str], name: str = "level.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return path


def test_every_character_parses(tmp_path):
    path = _write(tmp_path, _level_text(extra={5: "-" + ALL_TILES}))
    level = read_level(path)
    assert level.width == 40 and level.start == (2, 13) and level.flag == (39, 13) and level.has_flag
    expected = [EMPTY, GROUND, BLOCK, BRICK, BRICK, BRICK_COIN, BRICK_COIN, BRICK_MUSHROOM, QUESTION,
                QUESTION_MUSHROOM, QUESTION, QUESTION, HIDDEN, HIDDEN, USED, COIN, PIPE, PIPE, PLATFORM, PLATFORM_BG]
    assert list(level.tiles[1 : 1 + len(expected), 5]) == expected
    # the mushrooms of U and @ wait on top of their blocks, then the enemies
    kinds = [MUSHROOM, MUSHROOM, GOOMBA, GOOMBA, KOOPA, KOOPA, RED_KOOPA, RED_KOOPA, SPINY, SPINY]
    assert level.enemies[:, 2].tolist() == kinds
    assert level.enemies[:, 1].tolist() == [4, 4] + [5] * 8
    assert level.enemies[:2, 0].tolist() == [8, 10]
    # Markers and enemies leave empty tiles behind.
    assert level.tiles[2, 13] == EMPTY and np.all(level.tiles[1 + len(expected) :, 5] == EMPTY)


@pytest.mark.parametrize(
    "rows_fn, line, col, words",
    [
        (lambda r: r[:5] + ["--Z" + r[5][3:]] + r[6:], 6, 3, "unknown tile character 'Z'"),
        (lambda r: r[:7] + [r[7][:-2]] + r[8:], 8, 39, "expected 40"),
        (lambda r: r + ["-" * 40], 17, 1, "17 rows, at most 16"),
        (lambda r: [x.replace("M", "-") for x in r[:14]] + ["-" + x[1:] for x in r[14:]], 1, 1,
         "no start 'M', and column 1 has no floor"),
        (lambda r: r[:14] + ["XX-" + r[14][3:], "XX-" + r[15][3:]], 14, 3, "no ground below"),
        (lambda r: r[:10] + ["-----M" + r[10][6:]] + r[11:], 14, 3, "second start"),
    ],
)
def test_errors_name_file_line_and_column(tmp_path, rows_fn, line, col, words):
    path = _write(tmp_path, rows_fn(_level_text()), "bad.txt")
    with pytest.raises(LevelError) as err:
        read_level(path)
    msg = str(err.value)
    assert str(path) in msg and f"line {line}, column {col}" in msg and words in msg, msg
    assert isinstance(err.value, ValueError)


def test_builtin_and_path_levels(tmp_path):
    for name in BUILTIN_LEVELS:
        level = load_level(name)
        assert level.name == name and level.has_flag and level.width >= 100
    path = _write(tmp_path, _level_text(), "custom.txt")
    assert load_level(str(path)).name == "custom"
    with pytest.raises(LevelError, match="unknown level"):
        load_level("no-such-level")


# Written by hand for these tests: every character of the Mario AI Framework's parser, in its notation.
FRAMEWORK_LEVEL = """\
----------------------------------------
----------------------------------------
----------------------------------------
-------------------------%%%------------
-------------------------|||------------
------------?@Q!-------------------Y----
---------------------------------G------
-------------BSCLU12Do------------------
----------------------------------------
--------------------*------------K------
--------------------*-------------------
-------------tt-----*------<>-----R-----
--M----g-----tt--T--#---k--[]--r------F-
--------E----tt-TT--#--y---[]-----------
XXXXXXXXXXXXXXXXXXXXXXXXXXX---XXXXXXXXXX
XXXXXXXXXXXXXXXXXXXXXXXXXXX---XXXXXXXXXX
"""

# VGLC's Super Mario Bros notation: 14 rows, no start or exit marker, E enemies, <>[] pipes,
# B/b cannons, Q used blocks.
VGLC_LEVEL = """\
------------------------------
------------------------------
------------------------------
------------------------------
--------?---------------------
------------------------------
------------------------------
--------S?S-------------B-----
------------------------b-----
----------------<>------b-----
----------------[]------------
---------E---o--[]------------
XXXXXXXXXXXXXXXXXXXXX---XXXXXX
XXXXXXXXXXXXXXXXXXXXX---XXXXXX
"""


def test_every_framework_character_loads_and_plays(tmp_path):
    from envs.mario.level import GOOMBA, KOOPA, RED_KOOPA, SPINY

    path = _write(tmp_path, FRAMEWORK_LEVEL.splitlines(), "framework.txt")
    level = read_level(path)
    assert level.start == (2, 12) and level.has_flag and level.flag == (38, 12)
    kinds = sorted(level.enemies[:, 2].tolist())
    assert kinds == sorted([GOOMBA, GOOMBA, GOOMBA, KOOPA, KOOPA, RED_KOOPA, RED_KOOPA, SPINY, SPINY, MUSHROOM, MUSHROOM])
    assert {PIPE} == {int(level.tiles[c, r]) for c, r in [(27, 11), (28, 11), (27, 12), (28, 13)]}
    _plays(path)


def test_a_vglc_level_loads_with_the_frameworks_defaults(tmp_path):
    """14 rows get two rows of sky on top; no M: column 0 on its first floor; no F: the last column."""
    path = _write(tmp_path, VGLC_LEVEL.splitlines(), "vglc.txt")
    level = read_level(path)
    assert level.tiles.shape == (30, 16)
    assert level.start == (0, 13) and not level.has_flag and level.flag == (29, 13)
    assert level.enemies.tolist() == [[9, 13, 1]]  # E: a goomba, on row 11 of the file + 2 rows of sky
    assert (int(level.tiles[24, 9]), int(level.tiles[24, 10])) == (BRICK, BLOCK)  # the cannon is solid
    assert int(level.tiles[16, 11]) == PIPE and int(level.tiles[17, 12]) == PIPE
    _plays(path)


def _plays(path: Path) -> None:
    """The level runs in the game: a hundred steps of running right, no error."""
    from envs.mario.env import MarioEnv

    env = MarioEnv(level=str(path))
    env.reset(seed=0)
    for _ in range(100):
        _, _, terminated, truncated, _ = env.step(2)
        if terminated or truncated:
            env.reset()
    env.close()
