"""Action sets, identical to gym-super-mario-bros' (`gym_super_mario_bros.actions`).

Each action is a list of NES button names held for the whole agent step; A jumps (a jump
starts on the press, so holding A across steps does not jump again) and B runs.

    buttons = action_buttons("simple")  # int64 bit mask per action index
"""

from __future__ import annotations

import numpy as np

from envs.mario.engine import BTN_A, BTN_B, BTN_DOWN, BTN_LEFT, BTN_RIGHT, BTN_SELECT, BTN_START, BTN_UP

RIGHT_ONLY: list[list[str]] = [
    ["NOOP"],
    ["right"],
    ["right", "A"],
    ["right", "B"],
    ["right", "A", "B"],
]

SIMPLE_MOVEMENT: list[list[str]] = [
    ["NOOP"],
    ["right"],
    ["right", "A"],
    ["right", "B"],
    ["right", "A", "B"],
    ["A"],
    ["left"],
]

COMPLEX_MOVEMENT: list[list[str]] = [
    ["NOOP"],
    ["right"],
    ["right", "A"],
    ["right", "B"],
    ["right", "A", "B"],
    ["A"],
    ["left"],
    ["left", "A"],
    ["left", "B"],
    ["left", "A", "B"],
    ["down"],
    ["up"],
]

ACTION_SETS: dict[str, list[list[str]]] = {
    "right_only": RIGHT_ONLY,
    "simple": SIMPLE_MOVEMENT,
    "complex": COMPLEX_MOVEMENT,
}

BUTTONS: dict[str, int] = {
    "NOOP": 0, "right": BTN_RIGHT, "left": BTN_LEFT, "down": BTN_DOWN, "up": BTN_UP,
    "start": BTN_START, "select": BTN_SELECT, "B": BTN_B, "A": BTN_A,
}


def resolve_actions(actions: str | list[list[str]]) -> list[list[str]]:
    """An action set by name ("simple", "right_only", "complex") or as a list of button lists."""
    if isinstance(actions, str):
        if actions not in ACTION_SETS:
            raise ValueError(f"unknown action set {actions!r}: expected one of {', '.join(ACTION_SETS)}")
        return ACTION_SETS[actions]
    for combo in actions:
        for name in combo:
            if name not in BUTTONS:
                raise ValueError(f"unknown button {name!r} in actions: expected one of {', '.join(BUTTONS)}")
    return [list(c) for c in actions]


def action_buttons(actions: str | list[list[str]]) -> np.ndarray:
    """Button bit masks (int64), one per action of the set."""
    out = np.zeros(len(resolve_actions(actions)), dtype=np.int64)
    for k, combo in enumerate(resolve_actions(actions)):
        for name in combo:
            out[k] |= BUTTONS[name]
    return out
