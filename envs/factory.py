"""The Gymnasium factory: any registered id as a vector env with an explicit autoreset mode.

Every vector env the lab builds uses Gymnasium's NEXT_STEP autoreset: the step that ends an
episode returns its true final observation (so truncated episodes can bootstrap from it), and
the next step of that sub-env resets it, ignores its action and returns reward 0. Learners
mask those reset steps out. Envs with their own vectorised implementation (CartPole, the
Mario-like game) use it: it is many times faster than a loop over single envs. Atari ids with
env=atari's preprocessing settings are built by envs/atari.py.
"""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from envs.errors import EnvError


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    if env_id.startswith("ALE/"):
        from envs.atari import register

        register()  # ale-py registers the ALE/... ids on import
    try:
        return gym.spec(env_id)
    except gym.error.Error:
        ids = list(gym.registry.keys())
        close = difflib.get_close_matches(env_id, ids, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see gymnasium.pprint_registry()"
        raise EnvError(f"unknown env id '{env_id}'{hint}") from None


def make_vec(env_id: str, num_envs: int, *, vectorization: str = "auto",
             max_episode_steps: int | None = None, kwargs: dict[str, Any] | None = None,
             render_mode: str | None = None) -> gym.vector.VectorEnv:
    """A vector env of `num_envs` copies of `env_id`, autoreset mode NEXT_STEP."""
    spec = env_spec(env_id)
    kwargs = dict(kwargs or {})
    from envs import atari

    if atari.is_atari(spec) and kwargs.keys() & atari.preprocessing_keys():  # env=atari
        return atari.make_atari_vec(env_id, num_envs, vectorization=vectorization,
                                    max_episode_steps=max_episode_steps, render_mode=render_mode, **kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    native = spec.vector_entry_point is not None
    if vectorization == "native" and not native:
        raise EnvError(f"env.vectorization=native but {env_id} has no native vector implementation; "
                       "use auto, sync or async")
    if vectorization in ("auto", "native") and native:
        if max_episode_steps is not None:
            kwargs["max_episode_steps"] = max_episode_steps
        env = gym.make_vec(env_id, num_envs, vectorization_mode="vector_entry_point", **kwargs)
    else:
        mode = "async" if vectorization == "async" else "sync"
        if max_episode_steps is not None:
            kwargs["max_episode_steps"] = max_episode_steps
        env = gym.make_vec(env_id, num_envs, vectorization_mode=mode,
                           vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP}, **kwargs)
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if mode != AutoresetMode.NEXT_STEP:
        env.close()
        raise EnvError(f"{env_id}: its vector env uses autoreset mode {mode}; the lab needs NEXT_STEP")
    return env
