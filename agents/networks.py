"""Network building blocks shared by the learners: MLP towers, the Nature CNN, initialisation."""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2),
               "swish": nn.SiLU, "sigmoid": nn.Sigmoid}


def mlp(sizes: list[int], activation: str = "tanh", out_gain: float = 1.0, ortho: bool = True) -> nn.Sequential:
    """Linear layers of `sizes` with `activation` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layer = nn.Linear(a, b)
        if ortho:
            # Orthogonal init (Saxe et al.); small gains on output heads keep the initial
            # policy near uniform, which matters for PPO (Andrychowicz et al. 2021).
            init_layer(layer, out_gain if last else math.sqrt(2))
        layers.append(layer)
        if not last:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def init_layer(layer: nn.Module, gain: float) -> nn.Module:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class NatureCNN(nn.Module):
    """The DQN Nature paper's encoder (Mnih et al. 2015) for stacked 84x84 frames, uint8 in."""

    def __init__(self, in_channels: int, features: int = 512, height: int = 84, width: int = 84) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            init_layer(nn.Conv2d(in_channels, 32, 8, stride=4), math.sqrt(2)), nn.ReLU(),
            init_layer(nn.Conv2d(32, 64, 4, stride=2), math.sqrt(2)), nn.ReLU(),
            init_layer(nn.Conv2d(64, 64, 3, stride=1), math.sqrt(2)), nn.ReLU(),
            nn.Flatten())
        with torch.no_grad():
            n = self.conv(torch.zeros(1, in_channels, height, width)).shape[1]
        self.fc = nn.Sequential(init_layer(nn.Linear(n, features), math.sqrt(2)), nn.ReLU())
        self.out_features = features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(obs.float() / 255.0))


def is_image_space(shape: tuple[int, ...], dtype) -> bool:
    """Image observations: 3-D uint8 (C,H,W) or (H,W,C)."""
    import numpy as np

    return len(shape) == 3 and np.dtype(dtype) == np.uint8
