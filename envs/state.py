"""Saving and restoring a vector env's state mid-episode, for exact checkpoint resume.

An env is savable when it defines ``get_state()``/``set_state()`` (the lab's own games), or
when it is one of Gymnasium's classic-control envs, whose whole state is plain numbers, arrays
and a numpy Generator. Box2D envs (LunarLander, BipedalWalker) and Atari are not: their
physics or emulator state lives in C objects; on resume their episodes restart.
States contain only tensors, numbers, strings and containers, so checkpoints load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lab.core.rng import generator_state, set_generator_state

_SAVABLE_MODULES = ("gymnasium.envs.classic_control",)


def _chain(env: Any) -> list[Any]:
    """The wrapper chain of an env, outermost first."""
    out = [env]
    while hasattr(out[-1], "env"):
        out.append(out[-1].env)
    return out


def savable(env: Any) -> bool:
    if hasattr(env, "get_state") and hasattr(env, "set_state"):
        return True
    subs = getattr(env, "envs", None)
    targets = [_chain(e)[-1] for e in subs] if subs is not None else [_chain(env)[-1]]
    return all(type(t).__module__.startswith(_SAVABLE_MODULES) for t in targets)


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value).copy())
                if value.dtype != np.bool_ else torch.from_numpy(value.astype(np.uint8)), "bool": value.dtype == np.bool_}
    if isinstance(value, np.random.Generator):
        return {"__generator__": generator_state(value)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any, current: Any = None) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        arr = value["__ndarray__"].numpy().copy()
        return arr.astype(np.bool_) if value["bool"] else arr
    if isinstance(value, dict) and "__generator__" in value:
        gen = current if isinstance(current, np.random.Generator) else np.random.default_rng()
        set_generator_state(gen, value["__generator__"])
        return gen
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    return value


_PLAIN = (np.ndarray, np.random.Generator, np.generic, int, float, bool, str, type(None))


def _object_state(obj: Any) -> dict[str, Any]:
    return {k: _encode(v) for k, v in vars(obj).items()
            if isinstance(v, _PLAIN) and k not in ("render_mode",)}


def get_state(env: Any) -> dict[str, Any] | None:
    """The env's full state, or None when it cannot be saved."""
    if hasattr(env, "get_state"):
        return {"kind": "own", "state": _encode(env.get_state())}
    if not savable(env):
        return None
    subs = getattr(env, "envs", None) or []
    return {"kind": "attrs",
            "vector": [_object_state(o) for o in _chain(env)],
            "subenvs": [[_object_state(o) for o in _chain(e)] for e in subs]}


def set_state(env: Any, state: dict[str, Any]) -> None:
    if state["kind"] == "own":
        env.set_state(_decode(state["state"]))
        return
    _restore_chain(_chain(env), state["vector"])
    for e, chain_state in zip(getattr(env, "envs", None) or [], state["subenvs"]):
        _restore_chain(_chain(e), chain_state)


def _restore_chain(objs: list[Any], states: list[dict[str, Any]]) -> None:
    for obj, attrs in zip(objs, states):
        for k, v in attrs.items():
            setattr(obj, k, _decode(v, getattr(obj, k, None)))
