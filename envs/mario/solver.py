"""A beam-search player that proves a level beatable (and makes demo action sequences).

It steps many copies of the game in one `MarioVectorEnv`: each beam member tries every
action held for `repeat` env steps, the survivors furthest right (distinct positions
and speeds) form the next beam. It uses only the env's public get_state/set_state, so
a solution replays exactly in `MarioEnv`.

    actions = solve(load_level("intro"))  # list of action indices, or None
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.mario.engine import PVX, PX, PY
from envs.mario.level import Level


def _take(state: dict[str, Any], idx: np.ndarray, n: int) -> dict[str, Any]:
    """A vector-env state whose game k is game idx[k] of `state`."""
    return {k: (v[idx] if isinstance(v, np.ndarray) and v.shape[:1] == (n,) else v) for k, v in state.items()}


def solve(
    level: Level,
    beam: int = 24,
    repeat: int = 2,
    actions: str = "simple",
    max_iters: int = 400,
    **env_kwargs: Any,
) -> list[int] | None:
    """Action indices (one per env step) that reach the flag, or None if none was found."""
    from envs.mario.vector import MarioVectorEnv

    n_act = len(MarioVectorEnv(num_envs=1, level=level, actions=actions).action_set)
    n = beam * n_act
    env = MarioVectorEnv(num_envs=n, level=level, obs="grid", actions=actions, **env_kwargs)
    env.reset(seed=0)
    members = [(0, [])]  # (game index in the current state, action history)
    act = np.tile(np.arange(n_act), beam)
    for _ in range(max_iters):
        state = env.get_state()
        src = np.repeat([m[0] for m in members] + [members[0][0]] * (beam - len(members)), n_act)
        env.set_state(_take(state, src, n))
        alive = np.ones(n, dtype=bool)
        for _ in range(repeat):
            _, _, term, trunc, info = env.step(np.where(alive, act, 0))
            won = alive & info["flag_get"]
            if won.any():
                k = int(np.argmax(won))
                return members[min(k // n_act, len(members) - 1)][1] + [int(act[k])] * repeat
            alive &= ~(term | trunc)
        P = env.get_state()["P"]
        order = np.argsort(-P[:, PX], kind="stable")
        seen: set[tuple[int, int, int]] = set()
        new_members = []
        for k in order:
            if not alive[k] or k // n_act >= len(members):
                continue
            key = (int(P[k, PX] >> 8), int(P[k, PY] >> 8), int(P[k, PVX] >> 8))
            if key in seen:
                continue
            seen.add(key)
            new_members.append((int(k), members[k // n_act][1] + [int(act[k])] * repeat))
            if len(new_members) == beam:
                break
        if not new_members:
            return None
        members = new_members
    return None
