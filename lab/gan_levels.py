"""`env.level=gan:RUN[@N]`: the Mario game trains on levels sampled from a level GAN (issue 17).

The entry becomes a folder of N (default 500) playable levels of 4 windows each, sampled once from
the GAN's checkpoint (latent seed 0; only levels the solver clears are kept) by
`python -m lab.levels sample` in a subprocess, and cached under $LAB_LEVEL_CACHE/gan keyed by the
checkpoint file and N. The env then trains on that folder like any other level set.

With `env.train_levels=0` (and no @N) the entry becomes a stream instead (envs/mario/supply.py's
LevelStream): new playable levels keep coming from a background `python -m lab.levels stream`
process, level k made from latents seeded by k, into the level pool as procedural levels are
(a new one every env.level_episodes resets); cached under $LAB_LEVEL_CACHE/gan-stream.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from lab.core.errors import LabError

DEFAULT_LEVELS = 500


def gan_levels(level: Any, train_levels: int | None = None) -> Any:
    """env.level with each `gan:RUN[@N]` entry replaced by the folder of levels sampled from that GAN
    (or, for `gan:RUN` with train_levels=0, by a stream of new ones)."""
    if isinstance(level, (list, tuple)):
        return [gan_levels(entry, train_levels) for entry in level]
    if isinstance(level, str) and level.startswith("gan:"):
        if train_levels == 0 and "@" not in level:
            return gan_level_stream(level)
        return gan_level_folder(level)
    return level


def gan_level_stream(spec: str) -> Any:
    """`gan:RUN` -> a LevelStream of new playable levels from that GAN (made by a background process)."""
    from envs.mario.supply import LevelStream, cache_dir

    file = _checkpoint(spec[len("gan:"):], spec)
    stat = file.stat()
    key = hashlib.sha1(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|stream".encode()).hexdigest()[:16]
    root = (cache_dir() or Path(tempfile.gettempdir()) / "lab-mario-levels") / "gan-stream" / key
    return LevelStream(name=f"gan-{key}", command=(sys.executable, "-m", "lab.levels", "stream", str(file)),
                       root=str(root))


def _checkpoint(run_arg: str, spec: str) -> Path:
    path = Path(run_arg).expanduser()
    if path.is_file():
        return path
    for name in ("best.pt", "last.pt"):
        if (path / "checkpoints" / name).is_file():
            return path / "checkpoints" / name
    raise LabError(f"env.level={spec}: {path} is not a run directory with a checkpoint, nor a checkpoint file")


def gan_level_folder(spec: str) -> str:
    """`gan:RUN` or `gan:RUN@N` -> the folder of its N sampled levels (made once)."""
    from envs.mario.supply import cache_dir

    body = spec[len("gan:"):]
    run_arg, _, count = body.rpartition("@") if "@" in body else (body, "", "")
    if count and not (count.isdigit() and int(count) > 0):
        raise LabError(f"env.level={spec}: the count after @ must be a positive integer")
    n = int(count) if count else DEFAULT_LEVELS
    file = _checkpoint(run_arg, spec)
    stat = file.stat()
    key = hashlib.sha1(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{n}".encode()).hexdigest()[:16]
    out = (cache_dir() or Path(tempfile.gettempdir()) / "lab-mario-levels") / "gan" / key
    if not (out / "sample.json").is_file():
        proc = subprocess.run([sys.executable, "-m", "lab.levels", "sample", str(file), "--levels", str(n),
                               "--out", str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise LabError(f"env.level={spec}: {last.removeprefix('lab.levels: error: ')}")
    return str(out)
