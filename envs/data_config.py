"""Config schema of the GAN data sources (torch-free): `data=<name>` selects conf/data/<name>.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class DataConfig:
    """Arguments of envs.data.make_dataset. root: where file-based datasets live (default
    $LAB_DATA_ROOT/<name> or ~/.cache/lab/data/<name>)."""

    name: str = field(default="digits", metadata={
        "choices": ("ring8", "grid25", "digits", "mnist", "fashion_mnist", "cifar10", "image_folder",
                    "mario_levels")})
    root: Optional[str] = None
    image_size: Optional[int] = field(default=None, metadata={"gt": 0})
    split: str = field(default="train", metadata={"choices": ("train", "test")})
    download: bool = True
    channels: Optional[int] = field(default=None, metadata={"choices": (None, 1, 3)})


@dataclass
class MarioLevelsConfig:
    """data=mario_levels: windows of Mario levels (envs/data/mario_levels.py). levels: the corpus,
    as env.level takes it (built-in names, files, folders, procedural); root: a folder of level
    files added to it (e.g. the original Super Mario Bros levels in VGLC's notation)."""

    name: str = field(default="mario_levels", metadata={"choices": ("mario_levels",)})
    levels: Any = field(default_factory=lambda: ["intro", "pits", "enemies", "stairs", "procedural"])
    root: Optional[str] = None
    procedural_levels: int = field(default=100, metadata={"ge": 0, "help": "procedural levels in the corpus (seeds 0..N-1)"})
    difficulty: Any = 0.5
    window: int = field(default=32, metadata={"ge": 4, "help": "window width in columns (a multiple of 4)"})
    stride: int = field(default=4, metadata={"ge": 1, "help": "columns between consecutive windows"})
    eval_windows: int = field(default=1000, metadata={"ge": 1, "help": "generated windows each evaluation judges"})
    eval_levels: int = field(default=100, metadata={"ge": 0, "help": "stitched whole levels each evaluation judges"})
    stitch_windows: int = field(default=4, metadata={"ge": 1, "help": "windows side by side in a stitched level"})


DATA_SCHEMAS = {"data": DataConfig, "mario_levels": MarioLevelsConfig}
DATA_SCHEMA_OF = {"mario_levels": MarioLevelsConfig}  # a dataset with its own schema (the others: DataConfig)
