"""MNIST and Fashion-MNIST from the standard IDX files (gzipped or not).

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code,
the number of dimensions, then one big-endian uint32 per dimension and the data, big-endian.
Files are looked for in `root` and in torchvision's layout `root/MNIST/raw`; missing files are
downloaded (MD5-checked) when `download=True`, otherwise the error names the files to place.

    source = load_mnist_like("mnist", root="~/data", image_size=32)
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from envs.data.base import DataError, ImageSource
from envs.data.download import default_root, fetch

# IDX type code -> numpy dtype (big-endian, as the format stores it)
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# name -> (folder in torchvision's layout, base URL, {file: md5}); MD5s are the published ones
IDX_DATASETS = {
    "mnist": ("MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist/", {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }),
    "fashion_mnist": ("FashionMNIST", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }),
}
SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (optionally gzipped) into an array in native byte order."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read IDX file ({e.strerror or e})") from e
    if raw[:2] == b"\x1f\x8b":  # gzip magic: decide by content, not by the file name
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt gzip data ({e})") from e
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = np.dtype(IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        problem = "truncated" if found < expected else "trailing bytes"
        raise DataError(f"{path}: {problem}: header {dims} needs {expected} data bytes, found {found}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find(dirs: list[Path], base: str) -> Path | None:
    for d in dirs:
        for candidate in (d / base, d / (base + ".gz")):
            if candidate.is_file():
                return candidate
    return None


def load_mnist_like(name: str, root: str | Path | None = None, image_size: int | None = None,
                    split: str = "train", download: bool = True) -> ImageSource:
    """MNIST or Fashion-MNIST (28x28 grey, 10 classes) as an ImageSource."""
    if name not in IDX_DATASETS:
        raise ValueError(f"unknown IDX dataset {name!r}; known: {sorted(IDX_DATASETS)}")
    if split not in SPLIT_PREFIX:
        raise ValueError(f"{name}: split must be one of {sorted(SPLIT_PREFIX)}, got {split!r}")
    folder, base_url, md5s = IDX_DATASETS[name]
    root = Path(root).expanduser() if root is not None else default_root(name)
    dirs = [root, root / folder / "raw"]
    bases = [f"{SPLIT_PREFIX[split]}-images-idx3-ubyte", f"{SPLIT_PREFIX[split]}-labels-idx1-ubyte"]

    paths = [_find(dirs, b) for b in bases]
    missing = [b + ".gz" for b, p in zip(bases, paths) if p is None]
    if missing and download:
        try:
            for file in missing:
                fetch(base_url + file, root / file, md5s[file])
        except (OSError, DataError) as e:  # URLError is an OSError: offline lands here
            raise DataError(f"{name}: download failed ({e}); place {', '.join(missing)} "
                            f"(gzipped or not) in {root}") from e
        paths = [_find(dirs, b) for b in bases]
    elif missing:
        raise DataError(f"{name}: missing {', '.join(missing)} in {root} (gzipped or not; "
                        f"also looked in {root / folder / 'raw'}); place the standard IDX files "
                        f"there or pass download=True with network access")

    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{paths[0]}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{paths[1]}: expected {len(images)} labels, got shape {labels.shape}")
    return ImageSource(name, torch.from_numpy(images.copy()).unsqueeze(1),
                       torch.from_numpy(labels.astype(np.int64)),
                       image_size=image_size, num_classes=10)
