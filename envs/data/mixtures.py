"""2-D Gaussian mixtures for measuring mode collapse: ring of 8 and grid of 25.

The benchmark of VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018,
arXiv:1712.04086): ring8 has 8 modes evenly spaced on a circle of radius 1 with std 0.01;
grid25 has 25 modes at {-4, -2, 0, 2, 4}^2 with std 0.05. Samples are drawn fresh for every
batch, so there is no finite data set to memorise.

    x, mode = make_dataset("ring8").sample(2500, torch.Generator().manual_seed(0))
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from lab.core.learner import Source


class GaussianMixture2D(Source):
    """An equal-weight mixture of isotropic 2-D Gaussians; labels are the mode indices."""

    kind: Literal["points"] = "points"
    shape: tuple[int, ...] = (2,)

    def __init__(self, name: str, modes: Tensor, std: float) -> None:
        self.name = name
        self.modes = modes.to(torch.float32)  # (K, 2) centres
        self.std = float(std)
        self.num_classes: int | None = len(modes)

    def __repr__(self) -> str:
        return f"GaussianMixture2D(name={self.name!r}, modes={len(self.modes)}, std={self.std})"

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        mode = torch.randint(len(self.modes), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator)
        return self.modes[mode] + self.std * noise, mode


def ring8(radius: float = 1.0, std: float = 0.01, num_modes: int = 8) -> GaussianMixture2D:
    angle = torch.arange(num_modes, dtype=torch.float64) * (2 * math.pi / num_modes)
    modes = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return GaussianMixture2D("ring8", modes, std)


def grid25(spacing: float = 2.0, std: float = 0.05, side: int = 5) -> GaussianMixture2D:
    axis = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing  # -4..4
    modes = torch.cartesian_prod(axis, axis)
    return GaussianMixture2D("grid25", modes, std)
