"""GAN data sources: 2-D mixtures, digits, MNIST, Fashion-MNIST, CIFAR-10, image folders and
windows of Mario levels.

Every source has `name`, `kind` ("points" | "images" | "levels"), `shape` of one sample, `num_classes`
(int or None) and `sample(n, generator) -> (x, labels)`; image sources are finite (`len`) and
return float32 NCHW in [-1, 1]; mixtures also expose `modes` and `std`. Bad or missing files
raise `DataError` (a ValueError) with one line naming the file and the problem.

    source = make_dataset("digits", image_size=32)
    x, y = source.sample(64, torch.Generator().manual_seed(0))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envs.data.base import DataError, DataSource, ImageSource
from envs.data.cifar import load_cifar10
from envs.data.digits import load_digits
from envs.data.folder import load_image_folder
from envs.data.idx import load_mnist_like, read_idx
from envs.data.mixtures import GaussianMixture2D, grid25, ring8

DATASETS = ("ring8", "grid25", "digits", "mnist", "fashion_mnist", "cifar10", "image_folder", "mario_levels")

__all__ = ["DATASETS", "DataError", "DataSource", "GaussianMixture2D", "ImageSource",
           "make_dataset", "read_idx"]


def make_dataset(name: str, root: str | Path | None = None, image_size: int | None = None,
                 **kw: Any) -> DataSource:
    """Build the data source `name`.

    root: folder holding the files (mnist, fashion_mnist, cifar10: defaults to
    $LAB_DATA_ROOT/<name> or ~/.cache/lab/data/<name>; image_folder: required).
    image_size: square output size for images (digits default 16, others native).
    kw: `split` ("train" | "test") and `download` (bool) for mnist/fashion_mnist/cifar10;
    `channels` (1 | 3) for image_folder; mixture parameters (`std`, `radius`, `spacing`).
    """
    if name == "mario_levels":  # windows of Mario levels (envs/data/mario_levels.py)
        from envs.data.mario_levels import LevelWindows

        if image_size is not None:
            raise ValueError("mario_levels is made of level windows; image_size does not apply (data.window does)")
        return LevelWindows(root=None if root is None else str(root), **kw)
    if name in ("ring8", "grid25", "digits", "image_folder"):
        # the data= schema always passes split and download; these sources have one split
        kw.pop("download", None)
        if kw.pop("split", "train") != "train":
            raise ValueError(f"{name} has one split, 'train'")
    if name in ("ring8", "grid25"):
        if image_size is not None:
            raise ValueError(f"{name} is a 2-D point set; image_size does not apply")
        return ring8(**kw) if name == "ring8" else grid25(**kw)
    if name == "digits":
        return load_digits(image_size=image_size, **kw)
    if name in ("mnist", "fashion_mnist"):
        return load_mnist_like(name, root=root, image_size=image_size, **kw)
    if name == "cifar10":
        return load_cifar10(root=root, image_size=image_size, **kw)
    if name == "image_folder":
        if root is None:
            raise ValueError("image_folder needs root: the directory holding the images")
        return load_image_folder(root, image_size=image_size, **kw)
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
