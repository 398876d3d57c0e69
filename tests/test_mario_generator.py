"""The procedural generator at the preset's difficulty (0.5) builds the structures SMB levels (and the
built-in levels, never trained on) are made of, and every level it returns is beatable.

Each structure is recognised in the level text (what the player meets), not in the generator's code."""

import pytest

from envs.mario.generator import GROUND_ROW, generate_level
from envs.mario.solver import solve

FEET = GROUND_ROW - 1
ENEMIES = "gkry"
BLOCKS = "#B?@"


def _pit(rows: list[str], x: int) -> bool:
    return rows[GROUND_ROW][x] == "-"


def _height(rows: list[str], x: int) -> int:
    """How many `#` stand on the ground (or float, for a stepping block) in column x from the feet row up."""
    h = 0
    while h <= FEET and rows[FEET - h][x] == "#":
        h += 1
    return h


def _between_columns(rows: list[str], floor: bool) -> bool:
    """A gap 1-2 wide between two staircases >= 3 tall: a well with a floor, or a pit."""
    for x in range(1, len(rows[0]) - 3):
        for w in (1, 2, 3):
            gap = range(x, x + w)
            if (_height(rows, x - 1) >= 3 and _height(rows, x + w) >= 3 and all(_height(rows, c) == 0 for c in gap)
                    and all(rows[FEET][c] == "-" for c in gap) and all(_pit(rows, c) != floor for c in gap)):
                return True
    return False


def _bridge(rows: list[str]) -> bool:
    """An arch: a row of blocks >= 3 up, between staircases, over a pit."""
    return any(rows[y][x] == "#" and rows[y][x - 1] == "#" and all(rows[r][x] == "-" for r in range(y + 1, GROUND_ROW))
               and _pit(rows, x) for y in range(FEET - 4, FEET - 1) for x in range(1, len(rows[0])))


def _stepping_block(rows: list[str]) -> bool:
    return any(rows[FEET][x] == "#" and _pit(rows, x) and _pit(rows, x - 1) for x in range(1, len(rows[0])))


def _enemy_under_blocks(rows: list[str]) -> bool:
    return any(rows[FEET][x] in ENEMIES and (rows[FEET - 3][x] in BLOCKS or rows[FEET - 4][x] in BLOCKS)
               and rows[FEET - 1][x] == "-" for x in range(len(rows[0])))


def _enemy_on_floating_blocks(rows: list[str]) -> bool:
    return any(rows[y][x] in ENEMIES and rows[y + 1][x] in BLOCKS and rows[y + 2][x] == "-"
               for y in range(FEET - 2) for x in range(len(rows[0])))


def _enemy_between_pipes(rows: list[str]) -> bool:
    feet = rows[FEET]
    return any(c in ENEMIES and "t" in feet[max(0, x - 7):x] and "t" in feet[x + 1:x + 8] for x, c in enumerate(feet))


def _platform_over_pit(rows: list[str], up: int) -> bool:
    return any(rows[GROUND_ROW - up][x] == "%" and _pit(rows, x) for x in range(len(rows[0])))


def _staircase_at_pit_edge(rows: list[str]) -> bool:
    return any(_height(rows, x) >= 2 and not _pit(rows, x) and _pit(rows, x + 1) for x in range(len(rows[0]) - 1))


def _pit_run(rows: list[str]) -> bool:
    """Two pits with at most 5 tiles of ground between them."""
    ground = rows[GROUND_ROW]
    return any(ground[x] == "-" and ground[x + 1] == "X" and "-" in ground[x + 2:x + 7] for x in range(len(ground) - 2))


def _enemy_past_staircase(rows: list[str]) -> bool:
    """An enemy on the ground within 6 tiles past the foot of a descending staircase >= 3 tall."""
    return any(_height(rows, x) >= 3 and _height(rows, x + 1) == _height(rows, x) - 1 and _height(rows, x + 2) <= 1
               and any(c in ENEMIES for c in rows[FEET][x + 2:x + 8]) for x in range(len(rows[0]) - 2))


STRUCTURES = {
    "well between staircases": lambda rows: _between_columns(rows, floor=True),
    "pit between staircases": lambda rows: _between_columns(rows, floor=False),
    "arch over a pit": _bridge,
    "staircase 6+ tall": lambda rows: max(_height(rows, x) for x in range(len(rows[0]))) >= 6,
    "staircase at a pit's edge": _staircase_at_pit_edge,
    "platform 3 up over a pit": lambda rows: _platform_over_pit(rows, 3),
    "platform 4 up over a pit": lambda rows: _platform_over_pit(rows, 4),
    "floating block in a pit": _stepping_block,
    "pits in a run": _pit_run,
    "red koopa": lambda rows: "r" in "".join(rows),
    "enemy under a block row": _enemy_under_blocks,
    "enemy on a floating block row": _enemy_on_floating_blocks,
    "enemy between pipes": _enemy_between_pipes,
    "enemy past a staircase's foot": _enemy_past_staircase,
    "enemies side by side": lambda rows: any(a in ENEMIES and b in ENEMIES for a, b in zip(rows[FEET], rows[FEET][1:])),
}


@pytest.fixture(scope="module")
def levels_at_half():
    return [generate_level(seed=seed, difficulty=0.5) for seed in range(50)]


@pytest.mark.parametrize("structure", list(STRUCTURES))
def test_difficulty_half_generates_each_structure(levels_at_half, structure):
    found = sum(STRUCTURES[structure](level.text.splitlines()) for level in levels_at_half)
    assert found >= 1, f"no level of 50 at difficulty 0.5 has a {structure}"


def test_generated_levels_stay_beatable(levels_at_half):
    for level in levels_at_half:
        assert solve(level) is not None, level.name


@pytest.mark.parametrize("difficulty", [0.0, 1.0])
def test_ends_of_the_difficulty_range_stay_beatable(difficulty):
    for seed in range(10):
        assert solve(generate_level(seed=seed, difficulty=difficulty)) is not None
