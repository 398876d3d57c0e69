"""Finding dataset files in a root folder, and fetching missing ones with checksum checks.

Downloads go to a temporary file next to the target and are renamed only once their MD5
(the checksum the dataset authors publish) matches, so a failed or tampered download never
leaves a file that looks valid.

    path = fetch("https://.../train-images-idx3-ubyte.gz", root / "train-images-idx3-ubyte.gz", md5)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from envs.data.base import DataError

DOWNLOAD_TIMEOUT_S = 30.0


def default_root(name: str) -> Path:
    """Where a dataset lives when no root is given: $LAB_DATA_ROOT/<name> or ~/.cache/lab/data/<name>."""
    base = os.environ.get("LAB_DATA_ROOT") or Path.home() / ".cache" / "lab" / "data"
    return Path(base) / name


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, dest: Path, md5: str) -> Path:
    """Download `url` to `dest` unless a file with the right MD5 is already there."""
    dest = Path(dest)
    if dest.exists() and file_digest(dest, "md5") == md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as r:
            for block in iter(lambda: r.read(1 << 20), b""):
                out.write(block)
        got = file_digest(tmp, "md5")
        if got != md5:
            raise DataError(f"{url}: checksum mismatch (md5 {got}, expected {md5}); file discarded")
        os.replace(tmp, dest)  # atomic: dest is either absent or complete and verified
    finally:
        tmp.unlink(missing_ok=True)
    return dest
