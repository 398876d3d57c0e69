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


class _Lookup(torch.autograd.Function):
    """table[idx] whose backward is one index_add: torch's embedding backward sorts the indices,
    ~5x slower on a CPU for the ~1M lookups of a minibatch of 16x16 grids over a dozen codes."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(idx)
        ctx.rows = table.shape[0]
        return table.index_select(0, idx)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (idx,) = ctx.saved_tensors
        return grad.new_zeros(ctx.rows, grad.shape[1]).index_add_(0, idx, grad), None


class CodeEmbedding(nn.Module):
    """Grids of small integer codes (a tile map, uint8 [B, *grid]) -> a learned `dim`-vector per
    cell, flattened to [B, cells * dim]: a one-hot of each cell's code times a [codes, dim] matrix,
    done as a lookup. Tile codes are categories, so feeding them as numbers to an MLP would impose
    an order (goomba 8 ~ koopa 9); a one-hot layer costs 12x the input width, which a CPU cannot
    afford at 10k steps/s. `numpy()` is the same lookup for acting (a view of the weights)."""

    def __init__(self, n_codes: int, cells: int, dim: int = 2) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_codes, dim))
        self.out_features = cells * dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return _Lookup.apply(self.weight, obs.reshape(-1).long()).reshape(obs.shape[0], self.out_features)

    def numpy(self, obs):
        return self.weight.detach().numpy()[obs].reshape(len(obs), self.out_features)


def is_code_grid(space) -> bool:
    """Tile-code grids: a 2-D (or stacked 3-D) uint8 Box whose values are a few codes, not pixels."""
    import numpy as np

    return (getattr(space, "dtype", None) == np.uint8 and len(space.shape) in (2, 3)
            and int(np.max(space.high)) < 64 and int(np.min(space.low)) == 0)


def is_image_space(shape: tuple[int, ...], dtype) -> bool:
    """Image observations: 3-D uint8 (C,H,W) or (H,W,C)."""
    import numpy as np

    return len(shape) == 3 and np.dtype(dtype) == np.uint8


def make_adam(params, lr: float, device: torch.device, eps: float = 1e-5, **kwargs) -> torch.optim.Adam:
    """Adam with the fused kernel where it exists: 3x faster than the per-tensor loop on CPU."""
    params = list(params)
    if device.type in ("cpu", "cuda"):
        try:
            return torch.optim.Adam(params, lr=lr, eps=eps, fused=True, **kwargs)
        except (RuntimeError, TypeError):
            pass
    return torch.optim.Adam(params, lr=lr, eps=eps, **kwargs)


class NumpyMirror:
    """A numpy view of an MLP (nn.Sequential of Linear/Tanh/ReLU) on the CPU, for acting.

    Small-network rollouts are bound by per-op overhead: a torch op costs ~10-25 us, the same
    numpy op 1-3 us. The arrays are views of the torch parameters (shared memory), so they
    follow every in-place optimizer step at no cost. Float32, no autocast: acting only.
    """

    def __init__(self, net: nn.Sequential) -> None:
        self.layers: list[tuple[str, object, object]] = []
        for m in net:
            if isinstance(m, nn.Linear):
                self.layers.append(("linear", m.weight.detach().numpy().T, m.bias.detach().numpy()))
            elif isinstance(m, nn.Tanh):
                self.layers.append(("tanh", None, None))
            elif isinstance(m, nn.ReLU):
                self.layers.append(("relu", None, None))
            else:
                raise TypeError(f"NumpyMirror cannot mirror {type(m).__name__}")

    @staticmethod
    def supports(net: nn.Module) -> bool:
        return isinstance(net, nn.Sequential) and all(isinstance(m, (nn.Linear, nn.Tanh, nn.ReLU)) for m in net) \
            and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in net.parameters())

    def __call__(self, x):
        import numpy as np

        for kind, w, b in self.layers:
            if kind == "linear":
                x = x @ w + b
            elif kind == "tanh":
                x = np.tanh(x)
            else:
                x = np.maximum(x, 0.0)
        return x
