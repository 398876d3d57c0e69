"""Config schema of the GAN data sources (torch-free): `data=<name>` selects conf/data/<name>.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class DataConfig:
    """Arguments of envs.data.make_dataset. root: where file-based datasets live (default
    $LAB_DATA_ROOT/<name> or ~/.cache/lab/data/<name>)."""

    name: str = field(default="digits", metadata={
        "choices": ("ring8", "grid25", "digits", "mnist", "fashion_mnist", "cifar10", "image_folder")})
    root: Optional[str] = None
    image_size: Optional[int] = field(default=None, metadata={"gt": 0})
    split: str = field(default="train", metadata={"choices": ("train", "test")})
    download: bool = True
    channels: Optional[int] = field(default=None, metadata={"choices": (None, 1, 3)})


DATA_SCHEMAS = {"data": DataConfig}
