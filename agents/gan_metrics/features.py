"""Feature extractors for image metrics: a hashed TorchScript network, or a small classifier
the lab trains on the data set itself.

FID/KID/precision-recall are only comparable under the same feature extractor, so every
extractor carries a name and a sha256 that the metrics stamp into their results. The standard
choice is Inception-v3 (Szegedy et al., 2016) as in Heusel et al. 2017; offline, with no
weights to download, the lab instead trains a small CNN classifier on the data set (the
"domain classifier" approach of e.g. the MNIST/CIFAR mode-counting protocols) and uses its
penultimate layer (global-average-pooled conv features) as the feature space.

    extractor = dataset_extractor(make_dataset("digits"), cache_dir="runs/.cache")
    features = extractor(images)  # (N, 128) float32
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SMALLCONV_FORMAT = "lab.smallconv.v1"


class ExtractorError(ValueError):
    """A feature extractor file is missing, corrupt or not the expected one."""


class FeatureExtractor:
    """Images (N, C, H, W) in [-1, 1] -> features (N, D) float32, with a name and a hash."""

    def __init__(self, module: nn.Module, name: str, sha256: str,
                 input_shape: tuple[int, ...] | None = None, meta: dict[str, Any] | None = None) -> None:
        self.module = module  # in eval mode: callers set it (exported programs refuse .eval())
        self.name = name
        self.sha256 = sha256
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.meta = dict(meta or {})

    def __repr__(self) -> str:
        return f"FeatureExtractor(name={self.name!r}, sha256={self.sha256[:12]}..., input={self.input_shape})"

    @property
    def protocol(self) -> dict[str, Any]:
        return {"extractor": self.name, "extractor_sha256": self.sha256}

    @torch.no_grad()
    def __call__(self, images: Tensor, batch_size: int = 256) -> Tensor:
        if self.input_shape is not None and tuple(images.shape[1:]) != self.input_shape:
            expected = ", ".join(map(str, self.input_shape))
            raise ValueError(f"extractor {self.name} expects images of shape (N, {expected}), "
                             f"got {tuple(images.shape)}")
        device = next(iter(self.module.parameters()), torch.empty(0)).device
        out = []
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].to(device, torch.float32)
            out.append(self.module(batch).reshape(len(batch), -1).float().cpu())
        return torch.cat(out)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_torchscript_extractor(path: str | Path, sha256: str, name: str | None = None,
                               input_shape: tuple[int, ...] | None = None) -> FeatureExtractor:
    """A user's network (images in [-1, 1] -> features), checked against `sha256`.

    `path` is a TorchScript file (`torch.jit.save`) or, with suffix .pt2, a `torch.export`
    program (export it with a dynamic batch dimension). The hash is checked before loading: an
    archive holds code, so only the exact file the user vouched for is ever run.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ExtractorError(f"{path}: feature extractor file not found")
    got = file_sha256(path)
    if got != sha256.lower():
        raise ExtractorError(f"{path}: sha256 mismatch: file has {got}, expected {sha256.lower()}")
    exported = path.suffix == ".pt2"  # torch.export's format, TorchScript's successor
    try:
        module = (torch.export.load(path).module() if exported
                  else torch.jit.load(str(path), map_location="cpu").eval())
    except Exception as e:  # torch raises RuntimeError or worse for a file of the wrong kind
        kind = "torch.export program" if exported else "TorchScript module"
        raise ExtractorError(f"{path}: not a loadable {kind} ({type(e).__name__}: {e})") from e
    prefix = "export" if exported else "torchscript"
    return FeatureExtractor(module, name or f"{prefix}:{path.name}", got, input_shape)


class SmallConvNet(nn.Module):
    """Three conv layers, global average pooling (the features), then a linear classifier.

    The first two layers stride by 2 (16x16 input -> 4x4 maps, 32x32 -> 8x8): that keeps
    training to seconds on one CPU core, and is plenty for digit-sized images.
    """

    def __init__(self, channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def state_dict_sha256(state_dict: dict[str, Tensor], config: dict[str, Any]) -> str:
    """A hash of the weights' values and the architecture, independent of file layout."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        digest.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def _smallconv_extractor(net: SmallConvNet, config: dict[str, Any], sha256: str,
                         meta: dict[str, Any]) -> FeatureExtractor:
    name = (f"smallconv-v1/{config['dataset']}/{'x'.join(map(str, config['input_shape']))}"
            f"/seed{config['seed']}")
    return FeatureExtractor(net.body, name, sha256, tuple(config["input_shape"]), meta)


def train_smallconv(source: Any, seed: int = 0, steps: int = 300, batch_size: int = 64,
                    lr: float = 3e-3, width: int = 16) -> tuple[FeatureExtractor, dict[str, Any]]:
    """Train SmallConvNet on a labelled image source; returns (extractor, checkpoint payload).

    Deterministic given `seed` (on one CPU type): training runs on one thread, initialisation
    under a forked global RNG (the caller's RNG state is left untouched) and batches come from
    a generator of their own. Takes ~2 s for 16x16 digits, ~6 s for 32x32, on one CPU core.
    """
    if getattr(source, "kind", None) != "images" or getattr(source, "num_classes", None) is None:
        raise ExtractorError(f"{getattr(source, 'name', source)}: training a feature extractor "
                             f"needs a labelled image source")
    channels = source.shape[0]
    config = {"dataset": source.name, "input_shape": list(source.shape),
              "num_classes": source.num_classes, "width": width, "seed": seed, "steps": steps, "batch_size": batch_size, "lr": lr}
    generator = torch.Generator().manual_seed(seed)
    threads = torch.get_num_threads()
    # one thread: CPU kernels split reductions by thread count, so this makes the weights (and
    # their hash) the same whatever the caller's setting; for a net this small it costs little
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = SmallConvNet(channels, source.num_classes, width)
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        for _ in range(steps):
            x, y = source.sample(batch_size, generator)
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            x, y = source.sample(1024, generator)
            accuracy = float((net(x).argmax(dim=1) == y).float().mean())
    finally:
        torch.set_num_threads(threads)
    state_dict = {k: v.detach().clone() for k, v in net.state_dict().items()}
    sha256 = state_dict_sha256(state_dict, config)
    meta = {"train_accuracy": accuracy, "final_loss": float(loss.detach())}
    payload = {"format": SMALLCONV_FORMAT, "config": config, "state_dict": state_dict,
               "sha256": sha256, "meta": meta}
    return _smallconv_extractor(net, config, sha256, meta), payload


def save_smallconv(payload: dict[str, Any], path: str | Path) -> Path:
    """Write the checkpoint atomically (temp file + rename): a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def load_smallconv(path: str | Path, expected_sha256: str | None = None) -> FeatureExtractor:
    """Load a saved SmallConvNet extractor, checking its weights against the stored hash."""
    path = Path(path)
    if not path.is_file():
        raise ExtractorError(f"{path}: feature extractor file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != SMALLCONV_FORMAT:
            raise ValueError(f"format {payload.get('format')!r}, expected {SMALLCONV_FORMAT!r}")
        config, state_dict, stored_sha256 = payload["config"], payload["state_dict"], payload["sha256"]
        net = SmallConvNet(config["input_shape"][0], config["num_classes"], config["width"])
        net.load_state_dict(state_dict)
        net.eval()
    except Exception as e:  # any failure to read means the file is not a valid extractor
        raise ExtractorError(f"{path}: not a valid smallconv extractor ({type(e).__name__}: {e})") from e
    sha256 = state_dict_sha256(state_dict, config)
    if sha256 != stored_sha256 or (expected_sha256 is not None and sha256 != expected_sha256):
        raise ExtractorError(f"{path}: weights hash {sha256} does not match "
                             f"{expected_sha256 or stored_sha256} (corrupt or replaced file)")
    return _smallconv_extractor(net, config, sha256, payload.get("meta", {}))


def dataset_extractor(source: Any, cache_dir: str | Path, seed: int = 0,
                      steps: int = 300) -> FeatureExtractor:
    """The SmallConvNet extractor for `source`, trained once and cached in `cache_dir`.

    Cached by dataset name, image shape, seed and training steps; a corrupt cache file is
    retrained (with a warning) rather than trusted.
    """
    shape = "x".join(map(str, source.shape))
    path = Path(cache_dir) / f"smallconv-v1_{source.name}_{shape}_seed{seed}_steps{steps}.pt"
    if path.exists():
        try:
            return load_smallconv(path)
        except ExtractorError as e:
            warnings.warn(f"retraining feature extractor: {e}", stacklevel=2)
    extractor, payload = train_smallconv(source, seed=seed, steps=steps)
    save_smallconv(payload, path)
    return extractor
