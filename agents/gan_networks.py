"""GAN building blocks: MLP and DCGAN generators/discriminators, spectral normalisation,
class-conditional batch norm and the projection discriminator head.

- DCGAN: Radford et al. 2016 (arXiv:1511.06434): strided (transposed) convolutions, BN in G,
  LeakyReLU in D, N(0, 0.02) initialisation; here sized for 8/16/32/64-pixel images.
- Spectral normalisation: Miyato et al. 2018 (arXiv:1802.05957), torch's parametrization.
- Conditional BN (de Vries et al. 2017; BigGAN) in G, projection D (Miyato & Koyama 2018,
  arXiv:1802.05637): D(x, y) = psi(h(x)) + <embed(y), h(x)>. As in their generator, the class
  enters the DCGAN G through the BN layers only, never concatenated to z (see DCGANGenerator).

    G, D = make_networks(arch="dcgan", shape=(1, 16, 16), z_dim=64, num_classes=None, cfg=cfg)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from agents.networks import ACTIVATIONS

DCGAN_SIZES = (8, 16, 32, 64)


def _sn(module: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(module) if on else module


class ConditionalBatchNorm(nn.Module):
    """BatchNorm without its own affine; the scale and shift are looked up per class (or fixed)."""

    def __init__(self, num_features: int, num_classes: int | None, dims: int = 2) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.num_classes = num_classes
        self.bn = norm(num_features, affine=num_classes is None)
        if num_classes is not None:
            self.gamma = nn.Embedding(num_classes, num_features)
            self.beta = nn.Embedding(num_classes, num_features)
            nn.init.ones_(self.gamma.weight)
            nn.init.zeros_(self.beta.weight)

    def forward(self, x: Tensor, y: Tensor | None) -> Tensor:
        x = self.bn(x)
        if self.num_classes is None:
            return x
        shape = (len(x), -1) + (1,) * (x.ndim - 2)
        return x * self.gamma(y).view(shape) + self.beta(y).view(shape)


class ProjectionHead(nn.Module):
    """D's output from features h: linear(h), plus <embed(y), h> when class-conditional."""

    def __init__(self, features: int, num_classes: int | None, sn: bool) -> None:
        super().__init__()
        self.linear = _sn(nn.Linear(features, 1), sn)
        self.embed = _sn(nn.Embedding(num_classes, features), sn) if num_classes else None

    def forward(self, h: Tensor, y: Tensor | None) -> Tensor:
        out = self.linear(h).squeeze(-1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(dim=1)
        return out


# ------------------------------------------------------------------------------- MLP (points)
class MLPGenerator(nn.Module):
    """z (and a class embedding) -> hidden layers -> a flat sample, reshaped to `shape`."""

    def __init__(self, z_dim: int, shape: tuple[int, ...], hidden: list[int], activation: str,
                 num_classes: int | None, tanh: bool) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        sizes = [z_dim * (2 if num_classes else 1), *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(sizes[-1], math.prod(shape)))
        if tanh:
            layers.append(nn.Tanh())  # images live in [-1, 1]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        return self.net(z).view(len(z), *self.shape)


class MLPDiscriminator(nn.Module):
    """A flat (packed) sample -> hidden layers -> one logit (projection head when conditional)."""

    def __init__(self, in_features: int, hidden: list[int], activation: str, num_classes: int | None,
                 sn: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in zip([in_features, *hidden[:-1]], hidden):
            layers += [_sn(nn.Linear(a, b), sn), ACTIVATIONS[activation]()]
        self.body = nn.Sequential(nn.Flatten(), *layers)
        self.head = ProjectionHead(hidden[-1] if hidden else in_features, num_classes, sn)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.head(self.body(x), y)


# ------------------------------------------------------------------------------- DCGAN (images)
def _stages(image_size: int) -> int:
    if image_size not in DCGAN_SIZES:
        raise ValueError(f"the dcgan architecture needs square images of size {', '.join(map(str, DCGAN_SIZES))}; "
                         f"got {image_size} (set data.image_size)")
    return int(math.log2(image_size // 4))  # 4x4 -> image_size, doubling per stage


class DCGANGenerator(nn.Module):
    """z -> 4x4 maps -> (transposed conv 4/2/1, BN, act) per doubling -> 3x3 conv -> tanh.

    Class-conditional: the class sets each BN's scale and shift, and z alone feeds the first
    layer, as in Miyato & Koyama's generator. With a class embedding concatenated to z there too
    (this G until issue 13), G learned to draw one image per class on digits whatever z (recall
    0.00 against 0.97 for held-out real digits, within-class diversity 1.0 against 9.2).
    """

    def __init__(self, z_dim: int, channels: int, image_size: int, width: int, activation: str,
                 num_classes: int | None, columns: int | None = None, output: str = "tanh") -> None:
        super().__init__()
        k = _stages(image_size)
        widths = [width * 2 ** (k - i) for i in range(k + 1)]  # 4x4 widest ... image_size: `width`
        self.w0 = widths[0]
        # maps wider than tall (level windows: 16 x columns) start 4 x columns / 2^k
        self.start = (4, (columns or image_size) >> k)
        # tanh: images in [-1, 1]; softmax: a distribution over codes per cell; straight_through: its
        # one-hot argmax, differentiated as the softmax (Bengio et al. 2013)
        self.output = output
        self.fc = nn.Linear(z_dim, widths[0] * self.start[0] * self.start[1])
        self.norms = nn.ModuleList([ConditionalBatchNorm(widths[0], num_classes)])
        self.ups = nn.ModuleList()
        for a, b in zip(widths[:-1], widths[1:]):
            self.ups.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1, bias=False))
            self.norms.append(ConditionalBatchNorm(b, num_classes))
        self.act = ACTIVATIONS[activation]()
        self.out = nn.Conv2d(widths[-1], channels, 3, padding=1)
        dcgan_init(self)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.act(self.norms[0](self.fc(z).view(len(z), self.w0, *self.start), y))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = self.act(norm(up(h), y))
        out = self.out(h)
        if self.output == "tanh":
            return torch.tanh(out)
        probs = torch.softmax(out, dim=1)
        if self.output == "straight_through":  # forward: the one-hot argmax; backward: the softmax's gradient
            hard = F.one_hot(probs.argmax(dim=1), probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
            return hard + probs - probs.detach()
        return probs


class DCGANDiscriminator(nn.Module):
    """(conv 4/2/1, act) per halving down to 4x4, no normalisation but optional SN, then a
    projection head on the flattened 4x4 maps. No BN: D sees real and fake in one batch, and
    gradient penalties need per-sample outputs."""

    def __init__(self, channels: int, image_size: int, width: int, activation: str, num_classes: int | None,
                 sn: bool, columns: int | None = None) -> None:
        super().__init__()
        k = _stages(image_size)
        widths = [channels] + [width * 2 ** i for i in range(k)]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [_sn(nn.Conv2d(a, b, 4, stride=2, padding=1), sn), ACTIVATIONS[activation]()]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = ProjectionHead(widths[-1] * 4 * ((columns or image_size) >> k), num_classes, sn)
        dcgan_init(self)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.head(self.body(x), y)


def dcgan_init(net: nn.Module) -> None:
    """DCGAN's N(0, 0.02) weights (before spectral norm wraps them, if it does)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# ------------------------------------------------------------------------------- factory
def make_networks(arch: str, shape: tuple[int, ...], z_dim: int, num_classes: int | None, pack: int,
                  cfg, output: str = "tanh") -> tuple[nn.Module, nn.Module]:
    """G and D for samples of `shape`: (2,) points, (C, H, W) images, or (codes, 16, W) level maps
    (output="softmax": G gives a distribution over codes per cell). D sees `pack` samples
    stacked on the feature (mlp) or channel (dcgan) axis."""
    if arch == "mlp":
        G = MLPGenerator(z_dim, shape, list(cfg.g_hidden), cfg.g_activation, num_classes, tanh=len(shape) == 3)
        D = MLPDiscriminator(pack * math.prod(shape), list(cfg.d_hidden), cfg.d_activation, num_classes,
                             cfg.spectral_norm)
        return G, D
    if len(shape) != 3:
        raise ValueError(f"the dcgan architecture needs (C, H, W) images, not samples of shape {shape}")
    c, size, columns = shape
    k = _stages(size)
    if columns != size and (columns < size or columns % 2 ** k):
        raise ValueError(f"the dcgan architecture needs square images, or maps at least as wide as tall whose width "
                         f"is a multiple of {2 ** k}; got {size} x {columns}")
    G = DCGANGenerator(z_dim, c, size, cfg.g_channels, cfg.g_activation, num_classes, columns, output)
    D = DCGANDiscriminator(pack * c, size, cfg.d_channels, cfg.d_activation, num_classes, cfg.spectral_norm, columns)
    return G, D
