"""GAN data sources: shapes, ranges, determinism, and a clear DataError for each bad file.

Real data sets cannot be downloaded here, so the loaders read tiny files the tests write.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.data import DataError, DataSource, ImageSource, make_dataset, read_idx


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- 2-D mixtures


def test_ring8_modes_and_samples() -> None:
    source = make_dataset("ring8")
    assert source.kind == "points" and source.shape == (2,) and source.num_classes == 8
    assert source.std == 0.01
    assert torch.allclose(source.modes.norm(dim=1), torch.ones(8))
    assert torch.allclose(source.modes[2], torch.tensor([0.0, 1.0]), atol=1e-6)  # 90 degrees
    x, mode = source.sample(4000, gen())
    assert x.shape == (4000, 2) and x.dtype == torch.float32 and mode.dtype == torch.int64
    offset = x - source.modes[mode]
    assert offset.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.bincount(mode, minlength=8).min() > 400  # every mode drawn, roughly equally


def test_grid25_modes() -> None:
    source = make_dataset("grid25")
    assert source.std == 0.05 and len(source.modes) == 25
    values = {(round(a), round(b)) for a, b in source.modes.tolist()}
    assert values == {(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}


@pytest.mark.parametrize("name", ["ring8", "grid25", "digits"])
def test_same_seed_same_batches(name: str) -> None:
    source = make_dataset(name)
    g1, g2 = gen(7), gen(7)
    for _ in range(3):
        (x1, y1), (x2, y2) = source.sample(32, g1), source.sample(32, g2)
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(source.sample(32, gen(7))[0], source.sample(32, gen(8))[0])


def test_mixtures_reject_image_size() -> None:
    with pytest.raises(ValueError, match="image_size"):
        make_dataset("ring8", image_size=32)


def test_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        make_dataset("nope")


# ---------------------------------------------------------------- digits


@pytest.mark.parametrize("size", [None, 32])
def test_digits(size: int | None) -> None:
    source = make_dataset("digits", image_size=size)
    side = size or 16
    assert isinstance(source, DataSource)
    assert source.kind == "images" and source.shape == (1, side, side) and source.num_classes == 10
    assert len(source) == 1797
    x, y = source.sample(16, gen())
    assert x.shape == (16, 1, side, side) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1 and x.min() == -1  # background maps to -1
    assert y.dtype == torch.int64 and 0 <= y.min() and y.max() <= 9


# ---------------------------------------------------------------- IDX: mnist, fashion_mnist


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C}[array.dtype.type]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_mnist(folder: Path, n: int = 6, gz: bool = True, prefix: str = "train") -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(0).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    labels = np.arange(n, dtype=np.uint8) % 10
    for base, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        if gz:
            (folder / (base + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / base).write_bytes(data)
    return images


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_loads_idx_files(tmp_path: Path, gz: bool) -> None:
    images = write_mnist(tmp_path, gz=gz)
    source = make_dataset("mnist", root=tmp_path, download=False)
    assert len(source) == 6 and source.shape == (1, 28, 28) and source.num_classes == 10
    x, y = source.get(torch.arange(6))
    assert torch.equal(y, torch.arange(6))
    assert (x[0] == -1).all() and (x[1] == 1).all()
    expected = torch.from_numpy(images[2:3].astype(np.float32)) / 127.5 - 1
    assert torch.allclose(x[2, 0], expected[0], atol=1e-6)


def test_fashion_mnist_torchvision_layout_and_resize(tmp_path: Path) -> None:
    write_mnist(tmp_path / "FashionMNIST" / "raw", prefix="t10k")
    source = make_dataset("fashion_mnist", root=tmp_path, image_size=32, split="test", download=False)
    x, _ = source.sample(3, gen())
    assert x.shape == (3, 1, 32, 32) and x.min() >= -1 and x.max() <= 1


def test_read_idx_int32_roundtrip(tmp_path: Path) -> None:
    array = np.arange(-3, 9, dtype=np.int32).reshape(3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(array))
    assert np.array_equal(read_idx(tmp_path / "a.idx"), array)


def test_truncated_idx(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated"):
        make_dataset("mnist", root=tmp_path, download=False)


def test_bad_magic_idx(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x12\x34" + path.read_bytes()[2:])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: not an IDX file \(bad magic"):
        make_dataset("mnist", root=tmp_path, download=False)


def test_corrupt_gzip_idx(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: corrupt gzip"):
        make_dataset("mnist", root=tmp_path, download=False)


def test_label_count_mismatch(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(DataError, match="expected 6 labels"):
        make_dataset("mnist", root=tmp_path, download=False)


def test_missing_mnist_names_the_files(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        make_dataset("mnist", root=tmp_path, download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert str(tmp_path) in message and "\n" not in message


# ---------------------------------------------------------------- CIFAR-10


def write_cifar(root: Path, n: int = 4) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        batch = {"batch_label": "training batch", "labels": [int(v) for v in rng.integers(0, 10, n)],
                 "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                 "filenames": [f"img{j}.png".encode() for j in range(n)]}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def test_cifar10_loads(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    source = make_dataset("cifar10", root=tmp_path, download=False)
    assert len(source) == 20 and source.shape == (3, 32, 32) and source.num_classes == 10
    small = make_dataset("cifar10", root=tmp_path, image_size=16, download=False)
    x, y = small.sample(5, gen())
    assert x.shape == (5, 3, 16, 16) and y.dtype == torch.int64


def test_cifar10_bad_pickle(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path)
    (folder / "data_batch_3").write_bytes(b"\x80\x02}q\x00(garbage")
    with pytest.raises(DataError, match=r"data_batch_3: not a valid CIFAR pickle"):
        make_dataset("cifar10", root=tmp_path, download=False)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def test_cifar10_refuses_code_in_pickle(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    (folder / "data_batch_2").write_bytes(pickle.dumps({"data": _Exploit(marker)}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_2: .*refusing global"):
        make_dataset("cifar10", root=tmp_path, download=False)
    assert not marker.exists()


def test_cifar10_wrong_array_shape(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path)
    batch = {"data": np.zeros((2, 100), dtype=np.uint8), "labels": [0, 1]}
    (folder / "data_batch_5").write_bytes(pickle.dumps(batch))
    with pytest.raises(DataError, match=r"data_batch_5: 'data' must be uint8 of shape \(N, 3072\)"):
        make_dataset("cifar10", root=tmp_path, download=False)


def test_cifar10_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing data_batch_1, .*data_batch_5 in .*cifar-10-batches-py"):
        make_dataset("cifar10", root=tmp_path, download=False)


# ---------------------------------------------------------------- image folders


def write_png(path: Path, size: tuple[int, int] = (8, 8), value: int = 0, fmt: str = "PNG") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path, format=fmt)


def test_image_folder_with_classes(tmp_path: Path) -> None:
    write_png(tmp_path / "cat" / "a.png", value=255)
    write_png(tmp_path / "cat" / "b.png", value=255)
    write_png(tmp_path / "dog" / "c.jpg", value=0, fmt="JPEG")
    source = make_dataset("image_folder", root=tmp_path)
    assert len(source) == 3 and source.shape == (3, 8, 8) and source.num_classes == 2
    x, y = source.get(torch.arange(3))
    assert y.tolist() == [0, 0, 1]
    assert torch.allclose(x[0], torch.ones(3, 8, 8)) and x[2].max() < -0.9


def test_image_folder_unlabelled_resized(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", size=(8, 8))
    write_png(tmp_path / "b.png", size=(12, 10))
    with pytest.raises(DataError, match="pass image_size"):
        make_dataset("image_folder", root=tmp_path)
    source = make_dataset("image_folder", root=tmp_path, image_size=16, channels=1)
    assert source.num_classes is None and source.shape == (1, 16, 16)
    x, y = source.sample(4, gen())
    assert x.shape == (4, 1, 16, 16) and y is None


def test_image_folder_empty(tmp_path: Path) -> None:
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DataError, match=rf"{tmp_path}: no images"):
        make_dataset("image_folder", root=tmp_path)


def test_image_folder_unreadable_image(tmp_path: Path) -> None:
    write_png(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match=r"broken.png: unreadable image"):
        make_dataset("image_folder", root=tmp_path)


def test_image_source_validates() -> None:
    with pytest.raises(DataError, match="2 images but 3 labels"):
        ImageSource("t", torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3))
    assert math.isfinite(ImageSource("t", torch.zeros(2, 1, 4, 4, dtype=torch.uint8), None).max_value)
