"""Network building blocks shared by the learners: MLP towers, the Nature CNN, initialisation."""

from __future__ import annotations

import inspect

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


def image_layout(shape: tuple[int, ...]) -> tuple[str, tuple[int, int, int]]:
    """How frames of `shape` are laid out, and the (C, H, W) a CNN sees for them.

    Envs hand frames over in their own layout: (H, W) grayscale, (H, W, C) channel-last colour
    (Gymnasium's and the NES's), (k, H, W) stacked grayscale or Atari's channel-first (C, H, W),
    and (k, H, W, C) stacked colour. A last axis of 1, 3 or 4 after a longer first one is a colour
    axis; the k frames of a colour stack become k*C channels.
    """
    if len(shape) == 2:
        return "hw", (1, shape[0], shape[1])
    if len(shape) == 3:
        if shape[-1] in (1, 3, 4) and shape[0] > 4:
            return "hwc", (shape[2], shape[0], shape[1])
        return "chw", (shape[0], shape[1], shape[2])
    if len(shape) == 4:
        return "khwc", (shape[0] * shape[3], shape[1], shape[2])
    raise ValueError(f"a CNN needs 2-D to 4-D frames, not observations of shape {tuple(shape)}")


def to_chw(obs: torch.Tensor, layout: str) -> torch.Tensor:
    """A batch of frames in `layout` (see image_layout) as [B, C, H, W] (a view where it can be)."""
    if layout == "hw":
        return obs.unsqueeze(1)
    if layout == "hwc":
        return obs.permute(0, 3, 1, 2)
    if layout == "khwc":
        b, k, h, w, c = obs.shape
        return obs.permute(0, 1, 4, 2, 3).reshape(b, k * c, h, w)
    return obs


# The Nature CNN's receptive arithmetic (8/4, 4/2, 3/1) needs frames of at least 36 x 36.
NATURE_MIN_SIZE = 36


def conv_layers(c: int, h: int, w: int) -> list[tuple[int, int, int, int]]:
    """(out_channels, kernel, stride, padding) of the encoder for (c, h, w) frames: the Nature DQN
    stack where the frame is large enough, else three padded 3x3 layers (any size >= 1)."""
    if min(h, w) >= NATURE_MIN_SIZE:
        return [(32, 8, 4, 0), (64, 4, 2, 0), (64, 3, 1, 0)]
    return [(32, 3, 1, 1), (64, 3, 2, 1), (64, 3, 2, 1)]


def conv_out_sizes(c: int, h: int, w: int) -> list[int]:
    """Elements each conv layer outputs for one frame (for memory estimates, without building)."""
    sizes = []
    for out, k, s, p in conv_layers(c, h, w):
        h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        sizes.append(out * h * w)
    return sizes


class NatureCNN(nn.Module):
    """The DQN Nature paper's encoder (Mnih et al. 2015), uint8 frames in, in any layout the env
    gives (image_layout): (H, W), (H, W, C), (C, H, W) or (k, H, W, C). Frames smaller than 36 x 36
    get three padded 3x3 convolutions instead of the 8/4, 4/2, 3/1 stack, which would not fit."""

    def __init__(self, obs_shape: tuple[int, ...], features: int = 512) -> None:
        super().__init__()
        self.layout, (c, h, w) = image_layout(tuple(obs_shape))
        layers: list[nn.Module] = []
        for out, k, s, p in conv_layers(c, h, w):
            layers += [init_layer(nn.Conv2d(c, out, k, stride=s, padding=p), math.sqrt(2)), nn.ReLU()]
            c = out
        self.conv = nn.Sequential(*layers, nn.Flatten())
        n = conv_out_sizes(*image_layout(tuple(obs_shape))[1])[-1]
        self.fc = nn.Sequential(init_layer(nn.Linear(n, features), math.sqrt(2)), nn.ReLU())
        self.out_features = features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(to_chw(obs, self.layout).float() / 255.0))


class _ResidualBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(c, c, 3, padding=1)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ImpalaCNN(nn.Module):
    """The IMPALA encoder (Espeholt et al. 2018), the Procgen baseline's (Cobbe et al. 2019): per
    stage a 3x3 convolution, a 3x3 max-pool of stride 2 and two residual blocks (channels 16, 32,
    32), then a ReLU'd linear layer. It takes pixels (uint8 frames in any layout image_layout
    reads, scaled to [0, 1]) or, with `n_codes`, tile-code grids ((H, W) or stacked (k, H, W) uint8
    codes), each code a one-hot channel, so the convolutions see categories, not numbers."""

    def __init__(self, obs_shape: tuple[int, ...], features: int = 256, n_codes: int | None = None,
                 channels: tuple[int, ...] = (16, 32, 32)) -> None:
        super().__init__()
        self.n_codes = n_codes
        if n_codes is None:
            self.layout, (c, h, w) = image_layout(tuple(obs_shape))
        else:
            *stack, h, w = obs_shape
            c = n_codes * (stack[0] if stack else 1)
        stages: list[nn.Module] = []
        self._activations = c * h * w  # the input (one-hot grids are float)
        for out in channels:
            stages += [nn.Conv2d(c, out, 3, padding=1), nn.MaxPool2d(3, stride=2, padding=1),
                       _ResidualBlock(out), _ResidualBlock(out)]
            self._activations += out * h * w + 9 * out * ((h + 1) // 2) * ((w + 1) // 2)
            c, h, w = out, (h + 1) // 2, (w + 1) // 2
        self.conv = nn.Sequential(*stages, nn.ReLU(), nn.Flatten())
        self.fc = nn.Sequential(init_layer(nn.Linear(c * h * w, features), math.sqrt(2)), nn.ReLU())
        self.out_features = features

    def activation_elements(self) -> int:
        """Elements of the activations one sample keeps for the backward pass (memory estimates)."""
        return self._activations

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.n_codes is None:
            x = to_chw(obs, self.layout).float() / 255.0
        else:  # codes [B, (k,) H, W] -> one-hot channels [B, k * n_codes, H, W]
            h, w = obs.shape[-2:]
            x = torch.nn.functional.one_hot(obs.long().reshape(obs.shape[0], -1, h, w), self.n_codes)
            x = x.permute(0, 1, 4, 2, 3).reshape(obs.shape[0], -1, h, w).float()
        return self.fc(self.conv(x))


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


def is_image_space(space) -> bool:
    """Pixel observations: uint8 frames of 0-255 with 2 to 4 axes, in any layout image_layout reads
    (a tile-code grid is uint8 too, but its values stay below 64: see is_code_grid)."""
    import numpy as np

    shape = getattr(space, "shape", None) or ()
    return (getattr(space, "dtype", None) == np.uint8 and 2 <= len(shape) <= 4
            and int(np.max(space.high)) >= 64 and not is_code_grid(space))


class Adam(torch.optim.Adam):
    """torch's Adam, stepping without the decorator that imports torch._dynamo.

    `torch.optim.Adam.step` is wrapped to call `torch._dynamo.graph_break()` (for optimizer steps
    inside torch.compile; a no-op otherwise), which imports torch._dynamo on the first step: ~1.8 s
    of a 4 s CartPole run on the dev machine. The lab never compiles an optimizer step, so this
    runs torch's own undecorated step under no_grad, as the decorator does: the same kernel and
    the same numbers (tests/test_numerics.py)."""

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        return _ADAM_STEP(self, closure)


_ADAM_STEP = inspect.unwrap(torch.optim.Adam.step)


def make_adam(params, lr: float, device: torch.device, eps: float = 1e-5, **kwargs) -> torch.optim.Adam:
    """Adam with the fused kernel where it exists: 3x faster than the per-tensor loop on CPU."""
    params = list(params)
    if device.type in ("cpu", "cuda"):
        try:
            return Adam(params, lr=lr, eps=eps, fused=True, **kwargs)
        except (RuntimeError, TypeError):
            pass
    return Adam(params, lr=lr, eps=eps, **kwargs)


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
