"""Demonstrations: recorded episodes an imitation learner learns from (agent=bc, agent=gail).

A demos file is one NumPy `.npz` archive (readable without the lab: `np.load(path)`) holding
one row per transition, episodes one after another:

    obs        [N, *obs_shape]   the observation the demonstrator acted on (as the env gave it)
    actions    [N, *act_shape]   its action (int64 index, or float32 vector)
    rewards    [N]               the env's reward (kept for reporting; imitation never learns from it)
    next_obs   [N, *obs_shape]   the observation after the action (the last one of an episode too)
    terminated [N], truncated [N]
    episode    [N]               the episode index of each transition (0, 0, ..., 1, 1, ...)
    meta       JSON (bytes)      format version, env id, env config, the observation and action
                                 spaces, who demonstrated (a run's checkpoint and its sha256, or
                                 the Mario solver), episode returns, and `sha256`: a checksum of
                                 every array above (names, dtypes, shapes, bytes)

Loading verifies the checksum (a truncated or altered file is one line), and `mismatch` names
what differs between the demos and the env a learner acts in.

    save_demos("demos.npz", arrays, meta); demos = load_demos("demos.npz")
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

FORMAT = "lab-demos"
VERSION = 1
ARRAYS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "episode")


class DemosError(ValueError):
    """A demos file that cannot be used: missing, truncated, altered, or for another env."""


@dataclass
class Demos:
    """Loaded demonstrations: the arrays of the file (see the module docstring) and its meta."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode: np.ndarray
    meta: dict[str, Any]
    path: str = ""

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def episodes(self) -> int:
        return int(self.episode.max()) + 1 if len(self.episode) else 0

    def episode_returns(self) -> np.ndarray:
        return np.bincount(self.episode, weights=self.rewards, minlength=self.episodes)

    def first(self, episodes: int) -> "Demos":
        """The first `episodes` episodes (all of them if there are fewer)."""
        keep = self.episode < episodes
        return Demos(*(getattr(self, k)[keep] for k in ARRAYS), meta=self.meta, path=self.path)


def describe_space(space: gym.Space) -> dict[str, Any]:
    """A space as JSON: what `mismatch` compares."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype)}
    return {"type": type(space).__name__}


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in ARRAYS:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_demos(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    """Write a demos file (never over an existing one); returns its checksum."""
    path = Path(path)
    if path.exists():
        raise DemosError(f"{path} already exists: choose another --out (demos files are never overwritten)")
    missing = [k for k in ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"save_demos: missing arrays {missing}")
    n = len(arrays["actions"])
    if any(len(arrays[k]) != n for k in ARRAYS):
        raise ValueError("save_demos: arrays of different lengths")
    meta = {"format": FORMAT, "version": VERSION, **meta, "transitions": n,
            "episodes": int(arrays["episode"].max()) + 1 if n else 0, "sha256": _checksum(arrays)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
        np.savez_compressed(f, **{k: arrays[k] for k in ARRAYS},
                            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    os.replace(tmp, path)  # atomic: a killed recording leaves no half file under the name
    return meta["sha256"]


def load_demos(path: str | Path) -> Demos:
    """Read and verify a demos file; DemosError (one line) if it is missing, truncated or altered."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DemosError(f"demos file {path} does not exist (record one with `python -m lab.demos RUN` "
                         f"or `python -m lab.demos solver env=mario env.level=...`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "meta" not in data.files or any(k not in data.files for k in ARRAYS):
                raise DemosError(f"{path} is not a lab demos file (it lacks "
                                 f"{', '.join(k for k in ('meta', *ARRAYS) if k not in data.files)})")
            meta = json.loads(data["meta"].tobytes().decode())
            arrays = {k: data[k] for k in ARRAYS}
    except DemosError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise DemosError(f"{path} is truncated or not a demos file ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if meta.get("format") != FORMAT:
        raise DemosError(f"{path} is not a lab demos file (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise DemosError(f"{path} is demos format version {meta.get('version')}; this lab reads version {VERSION}")
    if _checksum(arrays) != meta.get("sha256"):
        raise DemosError(f"{path} fails its checksum: its data was altered after recording (or the copy is damaged)")
    if not len(arrays["actions"]):
        raise DemosError(f"{path} holds no transitions")
    return Demos(**arrays, meta=meta, path=str(path))


def mismatch(demos: Demos, env_id: str, obs_space: gym.Space, action_space: gym.Space) -> str | None:
    """What differs between the demos and an env (None: they fit): the env id, then each space."""
    meta = demos.meta
    if meta.get("env_id") and env_id and meta["env_id"] != env_id:
        return f"demos {demos.path} were recorded on {meta['env_id']}, not {env_id}"
    for what, space in (("observation", obs_space), ("action", action_space)):
        want, got = describe_space(space), meta.get(f"{what}_space")
        if got != want:
            return (f"demos {demos.path} have {what} space {_show(got)}, the env's is {_show(want)} "
                    f"(record the demos with the env settings of this run)")
    return None


def _show(space: dict[str, Any] | None) -> str:
    if not space:
        return "(none)"
    if space["type"] == "Discrete":
        return f"Discrete({space['n']})"
    if space["type"] == "Box":
        return f"Box(shape {tuple(space['shape'])}, {space['dtype']})"
    return space["type"]
