"""Where the game's levels come from: a built-in name, a level file, or the procedural generator.

    level = load_level("intro")            # built-in name, a path, or "procedural"

Above envs/mario/level.py (the format) and envs/mario/generator.py (procedural levels, verified
playable by envs/mario/solver.py), so none of them imports another in a cycle.
"""

from __future__ import annotations

from pathlib import Path

from envs.mario.generator import generate_level
from envs.mario.level import BUILTIN_LEVELS, LEVELS_DIR, Level, LevelError, read_level


def load_level(level: str | Path | Level = "intro", seed: int | None = None, difficulty: float = 0.5) -> Level:
    """A Level from a built-in name, a file path, or "procedural" (seed, difficulty)."""
    if isinstance(level, Level):
        return level
    if str(level) == "procedural":
        return generate_level(seed=0 if seed is None else int(seed), difficulty=difficulty)
    if isinstance(level, str) and level in BUILTIN_LEVELS:
        return read_level(LEVELS_DIR / f"{level}.txt")
    path = Path(level)
    if path.is_file():
        return read_level(path)
    raise LevelError(
        f"unknown level {str(level)!r}: expected one of {', '.join(BUILTIN_LEVELS)}, "
        f"'procedural', or the path of a level file"
    )
