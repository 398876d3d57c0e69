"""A directory of PNG/JPEG images, read with Pillow; sub-folder names become class labels.

`root/cat/1.png, root/dog/2.jpg` gives labels 0 (cat) and 1 (dog), classes sorted by name;
images directly in `root` give an unlabelled set. All images are decoded once into memory
(uint8), converted to RGB (or grey with channels=1) and resized to `image_size` when their
sizes differ. Meant for research-sized folders that fit in memory.

    source = load_image_folder("~/data/faces", image_size=64)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from envs.data.base import DataError, ImageSource

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_image(path: Path, channels: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError  # lazy: only this source needs Pillow

    try:
        with Image.open(path) as img:
            img.load()  # decode now, so a truncated file fails here, naming itself
            array = np.asarray(img.convert("RGB" if channels == 3 else "L"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: unreadable image ({type(e).__name__}: {e})") from e
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1)  # HWC -> CHW


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    x = image.unsqueeze(0).to(torch.float32)
    shrink = size < max(x.shape[-2:])
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
    return x.round_().clamp_(0, 255).to(torch.uint8).squeeze(0)


def load_image_folder(root: str | Path, image_size: int | None = None, channels: int = 3) -> ImageSource:
    """Every PNG/JPEG under `root`; labelled by sub-folder when all images sit in sub-folders."""
    if channels not in (1, 3):
        raise ValueError(f"image_folder: channels must be 1 or 3, got {channels}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: image folder does not exist")
    top_level = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and _images_in(d))
    if top_level and class_dirs:
        raise DataError(f"{root}: mixes images at the top level with class sub-folders "
                        f"({', '.join(d.name for d in class_dirs[:3])}...); use one layout")
    if class_dirs:
        files = [(p, label) for label, d in enumerate(class_dirs) for p in _images_in(d)]
    else:
        files = [(p, -1) for p in sorted(top_level)]
    if not files:
        raise DataError(f"{root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found")

    images = [_read_image(p, channels) for p, _ in files]
    sizes = {tuple(im.shape[-2:]) for im in images}
    if image_size is None:
        if len(sizes) > 1 or next(iter(sizes))[0] != next(iter(sizes))[1]:
            raise DataError(f"{root}: images have sizes {sorted(sizes)[:4]}; pass image_size "
                            f"to resize them to one square size")
        image_size = next(iter(sizes))[0]
    # square images at the target size are kept exact; the rest are resized once, here
    images = [im if tuple(im.shape[-2:]) == (image_size, image_size) else _resize(im, image_size)
              for im in images]
    labels = torch.tensor([label for _, label in files]) if class_dirs else None
    # the folder's path is part of the name so caches keyed by name (feature extractors) stay apart
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    return ImageSource(f"image_folder-{root.name}-{tag}", torch.stack(images), labels,
                       image_size=image_size, num_classes=len(class_dirs) or None)
