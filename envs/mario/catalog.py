"""One level by name: a built-in name, a level file, or a procedural (seed, difficulty).

    level = load_level("intro")            # built-in name, a path, or "procedural"

The same rules as env.level (envs/mario/supply.py), for a caller that wants one Level.
"""

from __future__ import annotations

from pathlib import Path

from envs.mario.level import Level, LevelError
from envs.mario.supply import LevelSupply


def load_level(level: str | Path | Level = "intro", seed: int | None = None, difficulty: float = 0.5) -> Level:
    """A Level from a built-in name, a file path, or "procedural" (seed, difficulty)."""
    if isinstance(level, Level):
        return level
    supply = LevelSupply(str(level), level_seed=seed, difficulty=difficulty, prefetch=False)
    if not supply.fixed:
        raise LevelError(f"{level}: names {len(supply.keys)} levels; load_level loads one (a level set is env.level's)")
    return supply.data(supply.keys[0]).level
