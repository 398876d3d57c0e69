"""A seeded procedural level generator with a difficulty knob in [0, 1].

Levels are strung from the sections real Super Mario Bros levels are built from (flat runs,
gaps, pipes 2-4 tiles tall, staircases with and without a gap, one or two floating block rows
with coins and the odd mushroom, groups of goombas, koopas and spinies, platforms over pits)
whose sizes grow with difficulty but stay within what small Mario can clear (gaps <= 4 tiles,
pipes and stairs <= 4 tiles, stair steps of one tile). Each level is then checked with the
beam-search solver; if it is not beaten, the next seed in a fixed sequence is tried, so a given
(seed, difficulty) always yields the same beatable level.

    level = generate_level(seed=3, difficulty=0.7)
"""

from __future__ import annotations

import numpy as np

from envs.mario.level import ROWS, Level, LevelError, parse_level
from envs.mario.solver import solve

GROUND_ROW = 14  # rows 14 and 15 are ground; the player stands on row 13


def _layout(rng: np.random.Generator, difficulty: float) -> list[list[str]]:
    d = float(difficulty)
    width = int(90 + 70 * d)
    g = [["-"] * width for _ in range(ROWS)]
    for x in range(width):
        g[GROUND_ROW][x] = g[GROUND_ROW + 1][x] = "X"

    def pit(x0: int, w: int) -> None:
        for x in range(x0, x0 + w):
            g[GROUND_ROW][x] = g[GROUND_ROW + 1][x] = "-"

    def column(x: int, h: int, ch: str = "#") -> None:
        for y in range(GROUND_ROW - h, GROUND_ROW):
            g[y][x] = ch

    g[GROUND_ROW - 1][2] = "M"
    x = 12
    end = width - 12
    while x < end - 12:
        kind = rng.choice(["flat", "pit", "pipe", "stairs", "blocks", "enemies", "platform"],
                          p=[0.1, 0.2, 0.15, 0.15, 0.15, 0.15, 0.1])
        if kind == "flat":
            x += int(rng.integers(3, 7))
        elif kind == "pit":
            w = int(rng.integers(2, 3 + round(2 * d)))
            pit(x, w)
            x += w + 3
        elif kind == "pipe":  # SMB's pipes are 2, 3 and 4 tiles tall
            h = int(rng.integers(2, 4 + (d >= 0.4)))
            column(x, h, "t")
            column(x + 1, h, "t")
            x += 2 + int(rng.integers(3, 6))
        elif kind == "stairs":
            h = int(rng.integers(2, 4 + (d >= 0.4)))
            for k in range(h):
                column(x + k, k + 1)
            x += h
            gap = int(rng.integers(1, 3)) if d > 0.5 and rng.random() < d else 0
            if gap:
                pit(x, gap)
            x += gap
            for k in range(h):
                column(x + k, h - k)
            x += h + 3
        elif kind == "blocks":
            n = int(rng.integers(3, 6))
            for k in range(n):
                r = rng.random()
                g[GROUND_ROW - 4][x + k] = "@" if r < 0.06 else ("?" if r < 0.35 else "B")
                if rng.random() < 0.5:
                    g[GROUND_ROW - 5][x + k] = "o"
            if rng.random() < 0.3:  # a second row higher up, reached from the first (as in SMB 1-1)
                for k in range(1, n):
                    g[GROUND_ROW - 8][x + k] = "?" if rng.random() < 0.3 else "B"
            x += n + 2
        elif kind == "enemies":
            n = 1 + int(rng.integers(0, 1 + round(2 * d)))
            for k in range(n):
                r = rng.random()
                ch = "y" if r < 0.25 * d else ("k" if r < 0.2 + 0.4 * d else "g")
                g[GROUND_ROW - 1][x + 2 * k] = ch
            x += 2 * n + 3
        else:  # platform over a wide pit
            w = int(rng.integers(4, 6 + round(2 * d)))
            pit(x, w)
            for k in range(1, w - 1):
                g[GROUND_ROW - 3][x + k] = "%"
            x += w + 3
    g[GROUND_ROW - 1][width - 6] = "F"
    return g


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
