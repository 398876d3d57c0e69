"""The contract every GAN data source meets, and the in-memory image source they share.

A source is what a GAN learns from: `sample(n, generator)` returns a batch drawn with
replacement using only the given `torch.Generator`, so the same seed gives the same batches.

    images, labels = source.sample(64, torch.Generator().manual_seed(0))
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from lab.core.learner import Source


class DataError(ValueError):
    """A data file is missing, corrupt or of the wrong format; the message names the file."""


@runtime_checkable
class DataSource(Protocol):
    """What the GAN trainer and the metrics rely on."""

    name: str
    kind: Literal["points", "images"]
    shape: tuple[int, ...]  # one sample: (2,) for points, (C, H, W) for images
    num_classes: int | None

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """n samples (float32; images NCHW in [-1, 1]) and their int64 labels (or None)."""
        ...


class ImageSource(Source):
    """A finite set of images held in memory as integers, scaled to [-1, 1] per batch.

    Images stay at their stored resolution (uint8, one copy) and are resized per batch:
    a batch costs a few small ops, and no float copy of the whole set is ever made.
    """

    kind: Literal["images"] = "images"

    def __init__(self, name: str, images: Tensor, labels: Tensor | None, *,
                 image_size: int | None = None, max_value: float = 255.0,
                 num_classes: int | None = None) -> None:
        if images.ndim != 4:
            raise ValueError(f"{name}: images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if len(images) == 0:
            raise DataError(f"{name}: no images")
        if labels is not None and len(labels) != len(images):
            raise DataError(f"{name}: {len(images)} images but {len(labels)} labels")
        if image_size is not None and image_size <= 0:
            raise ValueError(f"{name}: image_size must be positive, got {image_size}")
        self.name = name
        self.images = images.contiguous()
        self.labels = None if labels is None else labels.to(torch.int64)
        self.max_value = float(max_value)
        native = images.shape[-1]
        self.image_size = int(image_size or native)
        self.shape: tuple[int, ...] = (images.shape[1], self.image_size, self.image_size)
        if labels is None:
            self.num_classes = None
        else:
            self.num_classes = num_classes if num_classes is not None else int(self.labels.max()) + 1

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (f"ImageSource(name={self.name!r}, n={len(self)}, shape={self.shape}, "
                f"num_classes={self.num_classes})")

    def get(self, index: Tensor) -> tuple[Tensor, Tensor | None]:
        """The images at `index` (int64), as float32 NCHW in [-1, 1] at `image_size`."""
        x = self.images[index].to(torch.float32) * (2.0 / self.max_value) - 1.0
        if x.shape[-2:] != (self.image_size, self.image_size):
            # antialias only when shrinking: bilinear downsampling without it aliases badly
            shrink = self.image_size < max(x.shape[-2:])
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                              align_corners=False, antialias=shrink).clamp_(-1.0, 1.0)
        y = None if self.labels is None else self.labels[index]
        return x, y

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """n images drawn uniformly with replacement (an endless stream has no epochs to track)."""
        index = torch.randint(len(self.images), (n,), generator=generator)
        return self.get(index)
