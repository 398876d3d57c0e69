"""CIFAR-10 from the standard python batches (`cifar-10-batches-py/data_batch_1..5`).

Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009
(https://www.cs.toronto.edu/~kriz/cifar.html). The batches are pickles, and unpickling can run
arbitrary code, so they are read with a restricted unpickler that only builds dicts, lists,
bytes/str, numbers and numpy arrays; any other global in the file is refused as corrupt.

    source = load_cifar10(root="~/data", image_size=32)
"""

from __future__ import annotations

import codecs
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from envs.data.base import DataError, ImageSource
from envs.data.download import default_root, fetch

FOLDER = "cifar-10-batches-py"
ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
SPLIT_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}

# The only globals a numpy array pickle needs (numpy 1 names `numpy.core`, numpy 2 `numpy._core`;
# both resolve to numpy's own objects, so an old pickle loads without the deprecated module).
try:
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer  # protocol-5 pickles of arrays
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]

_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how protocol 2 stores Python 3 bytes
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _frombuffer for core in ("core", "_core")},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}") from None


def safe_load_pickle(path: Path) -> object:
    """Unpickle `path` allowing only plain containers and numpy arrays."""
    try:
        data = path.read_bytes()
        # latin1: the batches were pickled by Python 2; this is what makes their str keys str
        return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
    except Exception as e:  # a corrupt pickle can raise almost anything: all of it means "bad file"
        raise DataError(f"{path}: not a valid CIFAR pickle ({type(e).__name__}: {e})") from e


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> uint8 images (N, 3, 32, 32) and int64 labels (N,)."""
    batch = safe_load_pickle(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a dict, got {type(batch).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: missing 'data' or 'labels' (keys: {sorted(map(str, batch))})")
    data, labels = batch["data"], np.asarray(batch["labels"], dtype=np.int64)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: 'data' must be uint8 of shape (N, 3072), got "
                        f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {len(data)} images but labels of shape {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _extract(archive: Path, root: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(FOLDER + "/")]
        tar.extractall(root, members=members, filter="data")  # "data" refuses links and ../ paths


def load_cifar10(root: str | Path | None = None, image_size: int | None = None,
                 split: str = "train", download: bool = True) -> ImageSource:
    """CIFAR-10 (32x32 RGB, 10 classes) as an ImageSource."""
    if split not in SPLIT_FILES:
        raise ValueError(f"cifar10: split must be one of {sorted(SPLIT_FILES)}, got {split!r}")
    root = Path(root).expanduser() if root is not None else default_root("cifar10")
    folder = root / FOLDER
    files = [folder / f for f in SPLIT_FILES[split]]
    missing = [f.name for f in files if not f.is_file()]
    if missing and download:
        try:
            _extract(fetch(ARCHIVE_URL, root / "cifar-10-python.tar.gz", ARCHIVE_MD5), root)
        except (OSError, DataError, tarfile.TarError) as e:
            raise DataError(f"cifar10: download failed ({e}); place {', '.join(missing)} "
                            f"(from cifar-10-python.tar.gz) in {folder}") from e
    elif missing:
        raise DataError(f"cifar10: missing {', '.join(missing)} in {folder}; extract "
                        f"cifar-10-python.tar.gz into {root} or pass download=True with network access")
    parts = [read_cifar_batch(f) for f in files]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    return ImageSource("cifar10", images, labels, image_size=image_size, num_classes=10)
