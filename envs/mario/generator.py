"""A seeded procedural level generator with a difficulty knob in [0, 1].

Levels are strung from the sections real Super Mario Bros levels are built from, each drawn in
its own variants (one function per section kind below):

- flat runs, the odd `?` block;
- pits, alone or in runs with short ground between, some with a staircase or column ending at an
  edge, and something above many of them: a `%` platform 3-4 tiles up (narrower or wider than the
  pit), a block row 4-5 up, coins, or a floating block to step on;
- wide pits with a `%` platform 3-4 tiles up to cross on;
- pipes 2-4 tiles tall, one to three in a row, with enemies walking between them;
- staircase pyramids (up, then down) with nothing, a plateau, a well (floored) or a pit between
  the halves; arches (a pyramid whose top is a bridge over a pit or a tunnel); tall staircases up
  to a cliff (down to the ground or to a pit's edge), and, in many levels, a tall staircase before
  the flag; now and then an enemy waiting past a staircase's foot;
- rows of bricks and `?` blocks (the odd mushroom) 4-5 tiles up, some solid, with coins, a second
  row higher up, enemies walking under them and enemies patrolling on top;
- groups of goombas, green and red koopas and (from difficulty 0.4 up) spinies, side by side or
  spaced apart;

with 1-4 tiles of ground after every section.

Sizes grow with difficulty but stay within what small Mario can clear: gaps <= 4 tiles (wider pits
have a platform to cross on), pipes <= 4 tiles, stair steps of one tile, pyramids up to 4, 5 and 6
tiles tall and cliff staircases up to 4, 8 and 8 (difficulty 0, 0.5 and 1). Each level is then checked with the beam-search solver; if it
is not beaten, the next seed in a fixed sequence is tried, so a given (seed, difficulty) always
yields the same beatable level.

    level = generate_level(seed=3, difficulty=0.7)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from envs.mario.level import ROWS, Level, LevelError, parse_level
from envs.mario.solver import solve

GROUND_ROW = 14  # rows 14 and 15 are ground; the player stands on row 13
FEET = GROUND_ROW - 1  # the row of things standing on the ground

Grid = np.ndarray  # a [ROWS, w] array of level characters: one section, then the whole level


def _ground(w: int) -> Grid:
    g = np.full((ROWS, w), "-", dtype="<U1")
    g[GROUND_ROW:] = "X"
    return g


def _pit(g: Grid, x0: int, w: int) -> None:
    g[GROUND_ROW:, x0:x0 + w] = "-"


def _column(g: Grid, x: int, h: int, ch: str = "#") -> None:
    g[GROUND_ROW - h:GROUND_ROW, x] = ch


def _enemy(rng: np.random.Generator, d: float) -> str:
    """Goomba, green koopa (walks off ledges), red koopa (turns at ledges) or spiny (not stompable)."""
    r = rng.random()
    if r < 0.5 * max(0.0, d - 0.4):  # spinies from difficulty 0.4 up (no built-in level has one)
        return "y"
    if r < 0.1 + 0.45 * d:
        return "k"
    return "r" if r < 0.2 + 0.65 * d else "g"


def _walkers(rng: np.random.Generator, d: float, g: Grid, x0: int, x1: int, n: int, row: int = FEET) -> None:
    """Up to `n` enemies on `row` in columns [x0, x1), side by side or up to 3 apart, on solid footing."""
    x = x0
    for _ in range(n):
        if x >= x1:
            return
        if g[row + 1, x] != "-":
            g[row, x] = _enemy(rng, d)
        x += int(rng.integers(1, 4))


def _waiting(rng: np.random.Generator, d: float, g: Grid, x0: int) -> None:
    """Sometimes an enemy on the ground past a staircase's foot, walking to meet the player coming down."""
    if rng.random() < 0.2 + 0.3 * d and x0 + 1 < g.shape[1]:
        _walkers(rng, d, g, x0 + 1 + int(rng.integers(0, g.shape[1] - x0 - 1)), g.shape[1], 1)


def _flat(rng: np.random.Generator, d: float) -> Grid:
    g = _ground(int(rng.integers(3, 8)))
    if rng.random() < 0.25:
        g[GROUND_ROW - 4 - 4 * (rng.random() < 0.3), g.shape[1] // 2] = "?"
    return g


def _pits(rng: np.random.Generator, d: float) -> Grid:
    """One to three pits 2-4 wide (wider with difficulty) with short ground between and things above."""
    parts = []
    n = 1 + int(rng.random() < 0.3 + 0.4 * d) + int(rng.random() < 0.25 * d)
    for _ in range(n):
        w = int(rng.integers(2, 3 + min(2, int(4 * d + 0.5))))
        left = int(rng.integers(1, 4)) if rng.random() < 0.3 else 0    # a staircase up to the edge
        right = int(rng.integers(1, 4)) if rng.random() < 0.2 else 0   # a column on the far edge
        lead, tail = max(1, left), max(2, right) + int(rng.integers(0, 4))
        g = _ground(lead + w + tail)
        _pit(g, lead, w)
        for k in range(left):
            _column(g, lead - left + k, k + 1)
        for k in range(right):
            _column(g, lead + w + k, right - k)
        above = rng.choice(["none", "coins", "platform", "blocks", "stone"], p=[0.3, 0.15, 0.25, 0.12, 0.18])
        y = GROUND_ROW - int(rng.integers(3, 5)) - max(left, right)
        if above == "coins":
            g[y, lead:lead + w] = "o"
        elif above == "platform":  # as wide as the pit, or one tile narrower or wider on a side
            a, b = lead + int(rng.integers(-1, 2)), lead + w + int(rng.integers(-1, 2))
            g[y, a:max(b, a + 1)] = "%"
        elif above == "blocks":
            y = GROUND_ROW - int(rng.integers(4, 6)) - max(left, right)
            g[y, lead:lead + w] = [("?" if rng.random() < 0.3 else "B") for _ in range(w)]
            if rng.random() < 0.5:
                g[y - 1, lead:lead + w] = "o"
        elif above == "stone" and w >= 4:  # a floating block to step on, a gap of 1+ on each side
            s = 1 + int(rng.integers(0, w - 3))
            g[FEET - int(rng.integers(0, 2)):FEET + 1, lead + s:lead + s + min(2, w - 1 - s)] = "#"
        parts.append(g)
    return np.concatenate(parts, axis=1)


def _platform(rng: np.random.Generator, d: float) -> Grid:
    """A wide pit with a one-way platform 3-4 tiles up to cross on."""
    w = int(rng.integers(4, 6 + int(2 * d + 0.5)))
    g = _ground(w + 4)
    _pit(g, 1, w)
    y = GROUND_ROW - int(rng.integers(3, 4 + (d >= 0.3)))
    g[y, 2:w] = "%"
    if rng.random() < 0.4:
        g[y - 1, 2:w] = "o"
    return g


def _pipes(rng: np.random.Generator, d: float) -> Grid:
    """One to three pipes 2-4 tall (SMB's heights), enemies walking between them."""
    n = 1 + int(rng.random() < 0.45) + int(rng.random() < 0.3 * d)
    parts = []
    for i in range(n):
        gap = int(rng.integers(3, 8))
        g = _ground(2 + gap)
        h = int(rng.integers(2, 4 + (d >= 0.4)))
        _column(g, 0, h, "t")
        _column(g, 1, h, "t")
        if i < n - 1 and rng.random() < 0.6:  # enemies between two pipes
            _walkers(rng, d, g, 3, 2 + gap - 1, 1 + int(rng.integers(0, 2)))
        parts.append(g)
    return np.concatenate(parts, axis=1)


def _stairs(rng: np.random.Generator, d: float) -> Grid:
    """A pyramid: up h, then a plateau, a floored well, a pit or nothing, then down h."""
    h = int(rng.integers(2, 5 + int(2 * d + 0.5)))
    middle = rng.choice(["none", "plateau", "well", "gap"], p=[0.2, 0.15, 0.3, 0.35] if d >= 0.25 else [0.5, 0.5, 0, 0])
    m = {"none": 0, "plateau": int(rng.integers(1, 4)), "well": int(rng.integers(1, 3)),
         "gap": int(rng.integers(1, 2 + min(2, int(4 * d + 0.5))))}[str(middle)]
    g = _ground(h + m + h + int(rng.integers(2, 5)))
    for k in range(h):
        _column(g, k, k + 1)
        _column(g, h + m + k, h - k)
    if middle == "plateau":
        for k in range(m):
            _column(g, h + k, h)
    elif middle == "gap":
        _pit(g, h, m)
    _waiting(rng, d, g, 2 * h + m)
    return g


def _arch(rng: np.random.Generator, d: float) -> Grid:
    """A pyramid whose top is a bridge of blocks over a pit (or a tunnel with a floor)."""
    h = int(rng.integers(3, 5 + (d >= 0.6)))
    m = int(rng.integers(1, 4))
    g = _ground(h + m + h + int(rng.integers(2, 5)))
    for k in range(h):
        _column(g, k, k + 1)
        _column(g, h + m + k, h - k)
    g[GROUND_ROW - h, h:h + m] = "#"
    if rng.random() < 0.6:
        _pit(g, h, m)
    _waiting(rng, d, g, 2 * h + m)
    return g


def _cliff(rng: np.random.Generator, d: float, tall: bool = False) -> Grid:
    """A staircase up to a cliff 1-2 tiles wide on top, down to the ground or to a pit's edge."""
    hmax = min(8, 4 + int(8 * d))
    h = int(rng.integers(max(3, hmax - 3) if tall else 2, hmax + 1))
    top = int(rng.integers(1, 3))
    w = 0 if tall or rng.random() < 0.5 else int(rng.integers(2, 3 + min(1, int(2 * d + 0.5))))
    g = _ground(h + top - 1 + w + int(rng.integers(3, 6)))
    for k in range(h + top - 1):
        _column(g, k, min(k + 1, h))
    _pit(g, h + top - 1, w)
    if not tall:
        _waiting(rng, d, g, h + top - 1 + w)
    return g


def _blocks(rng: np.random.Generator, d: float) -> Grid:
    """A row of bricks and ? blocks 4 (or 5) tiles up, with coins or an enemy on top, enemies under it."""
    n = int(rng.integers(3, 7))
    lead = int(rng.integers(1, 4))
    g = _ground(lead + n + int(rng.integers(2, 5)))
    y = GROUND_ROW - 4 - int(d >= 0.3 and rng.random() < 0.3)
    solid = rng.random() < 0.15
    for k in range(n):
        r = rng.random()
        g[y, lead + k] = "#" if solid else ("@" if r < 0.06 else ("?" if r < 0.35 else "B"))
    top = rng.random()
    if top < 0.4:
        for k in range(n):
            if rng.random() < 0.6:
                g[y - 1, lead + k] = "o"
    elif top < 0.4 + 0.5 * d:  # an enemy patrolling the row (a goomba walks off it)
        g[y - 1, lead + int(rng.integers(0, n))] = "r" if rng.random() < 0.5 else _enemy(rng, d)
    if rng.random() < 0.3:  # a second row higher up, reached from the first (as in SMB 1-1)
        for k in range(1, n):
            g[GROUND_ROW - 8, lead + k] = "?" if rng.random() < 0.3 else "B"
    if rng.random() < 0.2 + 0.6 * d:  # enemies walking under the row
        _walkers(rng, d, g, lead + int(rng.integers(0, n)), g.shape[1], 1 + int(rng.integers(0, 2)))
    return g


def _enemies(rng: np.random.Generator, d: float) -> Grid:
    n = 1 + int(rng.integers(0, 1 + round(2 * d)))
    g = _ground(3 * n + 3)
    _walkers(rng, d, g, 1, 3 * n, n)
    return g


SECTIONS: dict[str, tuple[float, Callable[[np.random.Generator, float], Grid]]] = {
    "flat": (0.08, _flat), "pits": (0.16, _pits), "platform": (0.08, _platform), "pipes": (0.13, _pipes),
    "stairs": (0.13, _stairs), "arch": (0.05, _arch), "cliff": (0.07, _cliff), "blocks": (0.18, _blocks),
    "enemies": (0.12, _enemies),
}


def _layout(rng: np.random.Generator, difficulty: float) -> Grid:
    d = float(difficulty)
    width = int(90 + 70 * d)
    start = _ground(12)
    start[FEET, 2] = "M"
    end = _ground(12)
    end[FEET, 6] = "F"  # the flag 6 tiles from the right end
    # many levels end with a tall staircase before the flag (SMB's last staircase)
    finale = [_cliff(rng, d, tall=True)] if rng.random() < 0.3 + 0.6 * d else []
    room = width - 24 - sum(c.shape[1] for c in finale)
    names = list(SECTIONS)
    p = np.array([SECTIONS[k][0] for k in names])
    sections, x = [], 0
    for _ in range(200):
        s = SECTIONS[names[rng.choice(len(names), p=p / p.sum())]][1](rng, d)
        s = np.concatenate([s, _ground(int(rng.integers(1, 5)))], axis=1)  # room to land and run up
        if x + s.shape[1] <= room:
            sections.append(s)
            x += s.shape[1]
        elif room - x < 8:
            break
    sections.append(_ground(room - x))
    return np.concatenate([start, *sections, *finale, end], axis=1)


def generate_level(seed: int = 0, difficulty: float = 0.5, verify: bool = True, max_tries: int = 20) -> Level:
    """A beatable level for (seed, difficulty); the same inputs give the same level."""
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
    name = f"procedural-{seed}-{difficulty:g}"
    for attempt in range(max_tries):
        rng = np.random.default_rng([int(seed), attempt, int(round(difficulty * 1000))])
        grid = _layout(rng, difficulty)
        text = "\n".join("".join(row) for row in grid) + "\n"
        level = parse_level(text, source=f"<{name}>", name=name)
        if not verify:
            return level
        if solve(level) is not None:
            return level
    raise LevelError(f"<{name}>, line 1, column 1: no beatable level found in {max_tries} tries")
