"""Checkpoints: state dicts only, written atomically, loaded with ``weights_only=True``.

A checkpoint holds everything an exact resume needs: the learner (networks and whatever
else it keeps), optimizer and scaler states, RNG states, the source's state where it can be
saved, counters, the W&B run id and the resolved config.
Writes go to a temporary file in the same directory, are fsync'ed, then renamed over the old
file, so a kill at any moment leaves either the old or the new checkpoint, never half of one.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from lab.core.errors import LabError

FORMAT = 1
PREVIOUS = "prev.pt"


def save(state: dict[str, Any], path: Path, keep_previous: bool = False) -> None:
    """Atomically write `state` to `path` (temp file + fsync + rename).

    keep_previous: the current file stays on as `prev.pt` beside it, so a checkpoint that is
    later found corrupt (a bad disk, a copy cut short) still has a good predecessor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.exists():
            _keep_as_previous(path)
        os.replace(tmp, path)  # last.pt names the old checkpoint or the new one, never nothing
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _keep_as_previous(path: Path) -> None:
    """prev.pt becomes a second name of the current file (a hard link, a copy where links are not
    supported), made under a temp name and renamed into place: unlike moving last.pt away first,
    a kill at any instant leaves last.pt whole."""
    fd, tmp = tempfile.mkstemp(prefix=f".{PREVIOUS}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.unlink(tmp)
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copy2(path, tmp)
        os.replace(tmp, path.with_name(PREVIOUS))
    finally:  # also when prev.pt already was this file: rename() of two links to one file is a no-op
        Path(tmp).unlink(missing_ok=True)


def remove_stale_temps(directory: Path) -> int:
    """Delete temporary files of writes that a kill cut short (only the run's own process may
    call this: lab/run.py holds the run directory's lock). Returns how many were removed."""
    stale = list(Path(directory).glob(".*.pt.*.tmp")) if Path(directory).is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable across a power loss (POSIX only).
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely; a missing or unreadable file is one clear LabError."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):  # pickled code, not data
            what = re.search(r"GLOBAL ([\w.]+)", str(exc))
            raise LabError(f"checkpoint {path} holds pickled objects, not plain tensors and data"
                           f"{f' (it would call {what.group(1)})' if what else ''}; refusing to load it "
                           f"(the lab loads checkpoints with weights_only=True)") from None
        raise LabError(f"checkpoint {path} is unreadable (truncated or corrupt?): "
                       f"{str(exc).splitlines()[0][:200]}") from exc
    except Exception as exc:
        raise LabError(f"checkpoint {path} is unreadable (truncated or corrupt?): "
                       f"{str(exc).splitlines()[0][:200]}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise LabError(f"checkpoint {path} is not a lab checkpoint (format {FORMAT})")
    return state


def load_for_resume(path: Path) -> tuple[dict[str, Any], Path, str | None]:
    """Load `path`, or, for the lab's own last.pt, its `prev.pt` when last.pt is missing or corrupt.

    Returns the state, the file it came from, and a note for the user when it fell back."""
    path = Path(path)
    previous = path.with_name(PREVIOUS)
    try:
        return load(path), path, None
    except LabError as exc:
        if path.name != "last.pt" or not previous.is_file():  # a file the user named: no substitute
            raise
        return load(previous), previous, f"{exc}; resuming from the previous checkpoint {previous} instead"
