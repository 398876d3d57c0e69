"""The lab's built-in Mario-like platformer: Gymnasium id `lab/Mario-v0`.

A tile-world game with Super Mario Bros. physics (walk/run momentum, skids, jumps that
grow with how long A is held and with running speed), bricks, question blocks, coins,
pipes, pits, goombas, koopas and shells, a timer and a flag; levels are Mario AI
Framework ASCII text. `register()` adds the single env (`MarioEnv`) and the native,
compiled vector env (`MarioVectorEnv`, NEXT_STEP autoreset) to Gymnasium.

    import envs.mario; envs.mario.register()
    env = gymnasium.make("lab/Mario-v0", level="intro", obs="grid")
    envs = gymnasium.make_vec("lab/Mario-v0", num_envs=256, obs="pixels", grayscale=True, resolution=84)
"""

from __future__ import annotations

import importlib
from typing import Any

ENV_ID = "lab/Mario-v0"

__all__ = [
    "BUILTIN_LEVELS", "COMPLEX_MOVEMENT", "ENV_ID", "Level", "LevelError", "RIGHT_ONLY",
    "SIMPLE_MOVEMENT", "load_level", "parse_level", "read_level", "register",
]


def register() -> None:
    """Register `lab/Mario-v0` with Gymnasium (safe to call more than once)."""
    import gymnasium

    if ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point="envs.mario.env:MarioEnv",
        vector_entry_point="envs.mario.vector:MarioVectorEnv",
    )


# The re-exports load lazily: `import envs` registers the id without compiling the game (numba).
_LAZY = {"COMPLEX_MOVEMENT": "actions", "RIGHT_ONLY": "actions", "SIMPLE_MOVEMENT": "actions",
         "BUILTIN_LEVELS": "level", "Level": "level", "LevelError": "level", "load_level": "catalog",
         "parse_level": "level", "read_level": "level"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"envs.mario.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'envs.mario' has no attribute {name!r}")
