"""What the imitation learners (agents/bc.py, agents/gail.py) share: observations scaled by the
demonstrations' statistics, and the demonstrations as tensors.

The demos reach a learner as `source.demos` (envs/demos.py's Demos), attached by the application
layer (lab/run.py) for training only: a learner rebuilt to be watched has none, and its scaling
statistics come back from its checkpoint (they are buffers).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn


class ObsScale(nn.Module):
    """Observations as D sees them: floats standardised by the demos' mean and std (std floored,
    so a feature the demonstrator never varies does not explode), uint8 frames and tile codes
    divided by their space's maximum. The statistics are buffers: saved with the weights."""

    def __init__(self, space: gym.spaces.Box) -> None:
        super().__init__()
        shape = (int(np.prod(space.shape)),)
        self.integer = space.dtype == np.uint8
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))
        if self.integer:
            self.std.fill_(float(max(np.max(space.high), 1)))

    def fit(self, obs: np.ndarray) -> None:
        if self.integer:
            return
        x = torch.as_tensor(obs.reshape(len(obs), -1), dtype=torch.float32)
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0, unbiased=False).clamp_min(0.05))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs.reshape(obs.shape[0], -1).float() - self.mean) / self.std


def demo_tensors(source: Any, episodes: int | None, scale: ObsScale, keys: tuple[str, ...],
                 device: torch.device) -> dict[str, torch.Tensor] | None:
    """The source's demos (their first `episodes` episodes, if given) as tensors on `device`, with
    `scale` fitted to their observations; None when the source carries no demos."""
    demos = getattr(source, "demos", None)
    if demos is None:
        return None
    if episodes:
        demos = demos.first(episodes)
    scale.fit(demos.obs)
    return {k: torch.from_numpy(np.ascontiguousarray(getattr(demos, k))).to(device) for k in keys}
