"""A beam-search player that proves a level beatable (and makes demo action sequences).

It steps many copies of the game at once on the compiled batch engine (envs/mario/batch.py,
the same calls `MarioVectorEnv.step` makes): each beam member tries every action held for
`repeat` env steps, the survivors furthest right (distinct positions and speeds) form the next
beam. Games are copied by indexing the state arrays, so a solution replays exactly in `MarioEnv`
(reset with seed 0). It works below the env (no import of envs/mario/vector.py), so the env can
build verified procedural levels without an import cycle.

    actions = solve(load_level("intro"))  # list of action indices, or None
"""

from __future__ import annotations

import numpy as np

from envs.mario.actions import action_buttons, resolve_actions
from envs.mario.batch import GameLevels, LevelData, reset_batch, step_batch
from envs.mario.engine import PSTATUS, PVX, PX, PY, WON, make_state, seed_rng
from envs.mario.level import Level


class _Games:
    """`n` games of one level on the batch engine: reset, step, copy by index."""

    def __init__(self, level: Level, n: int, actions: str, frame_skip: int, time_limit: int) -> None:
        self.n, self.frame_skip, self.time_limit = n, frame_skip, time_limit
        data = LevelData(level)
        self.lv = GameLevels(n, level.width, len(level.enemies))
        for i in range(n):
            self.lv.assign(i, data)
        self.buttons = action_buttons(resolve_actions(actions))
        self.state = make_state(n, level.width, len(level.enemies))
        self.all = np.arange(n, dtype=np.int64)
        for i in range(n):  # MarioVectorEnv.reset(seed=0): game i seeded with i
            seed_rng(self.state["rng"], i, i)
        lv, s = self.lv, self.state
        reset_batch(self.all, s["P"], s["E"], s["T"], lv.base, lv.spawns, lv.ints, time_limit)
        self.needs_reset = np.zeros(n, dtype=np.bool_)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One env step of every game: (done, won)."""
        rewards = np.empty(self.n, dtype=np.float64)
        terminated = np.empty(self.n, dtype=np.bool_)
        truncated = np.empty(self.n, dtype=np.bool_)
        lv, s = self.lv, self.state
        step_batch(np.asarray(actions, dtype=np.int64), self.needs_reset.copy(), s["P"], s["E"], s["T"], s["rng"],
                   self.buttons, lv.base, lv.spawns, lv.ints, self.time_limit, self.frame_skip, 0.0, 50.0, 0,
                   rewards, terminated, truncated)
        self.needs_reset = terminated | truncated
        return self.needs_reset.copy(), s["P"][:, PSTATUS] == WON

    def take(self, idx: np.ndarray) -> None:
        """Game k becomes a copy of game idx[k]."""
        for v in self.state.values():
            if isinstance(v, np.ndarray) and v.shape[:1] == (self.n,):
                v[...] = v[idx]
        self.needs_reset = self.needs_reset[idx]


def _history(parent: list[int], action: list[int], node: int, repeat: int) -> list[int]:
    """The env-step actions from the start to tree node `node`."""
    steps: list[int] = []
    while node > 0:
        steps.append(action[node])
        node = parent[node]
    return [a for a in reversed(steps) for _ in range(repeat)]


def solve(
    level: Level,
    beam: int = 24,
    repeat: int = 2,
    actions: str = "simple",
    max_iters: int = 400,
    frame_skip: int = 4,
    time_limit: int = 400,
) -> list[int] | None:
    """Action indices (one per env step) that reach the flag, or None if none was found.
    `frame_skip` and `time_limit` as the env's (MarioVectorEnv's defaults)."""
    n_act = len(resolve_actions(actions))
    n = beam * n_act
    games = _Games(level, n, actions, frame_skip, time_limit)
    act = np.tile(np.arange(n_act), beam)
    # The search tree: node j was reached from node parent[j] by holding action[j] for `repeat` steps
    # (node 0 is the start); a member's history is read back only for the winner.
    parent, action = [-1], [-1]
    members = np.zeros(1, dtype=np.int64)  # game index in the current state, per beam member
    nodes = np.zeros(1, dtype=np.int64)    # tree node, per beam member
    slot = np.arange(n) // n_act           # the beam member each game continues
    for _ in range(max_iters):
        m = len(members)
        games.take(np.repeat(np.concatenate([members, np.full(beam - m, members[0])]), n_act))
        alive = np.ones(n, dtype=bool)
        for _ in range(repeat):
            done, won = games.step(np.where(alive, act, 0))
            won &= alive
            if won.any():
                k = int(np.argmax(won))
                return _history(parent, action, int(nodes[min(k // n_act, m - 1)]), repeat) + [int(act[k])] * repeat
            alive &= ~done
        P = games.state["P"]
        order = np.argsort(-P[:, PX], kind="stable")
        order = order[alive[order] & (slot[order] < m)]
        if not len(order):
            return None
        # the furthest right first, one per distinct (position, speed): a key per game, first occurrences
        key = ((P[order, PX] >> 8) << 24) | (((P[order, PY] >> 8) + (1 << 15)) << 8) | ((P[order, PVX] >> 8) + 128)
        _, first = np.unique(key, return_index=True)
        chosen = order[np.sort(first)[:beam]]
        new_nodes = np.arange(len(parent), len(parent) + len(chosen), dtype=np.int64)
        parent.extend(int(nodes[slot[k]]) for k in chosen)
        action.extend(int(act[k]) for k in chosen)
        members, nodes = chosen.astype(np.int64), new_nodes
    return None
