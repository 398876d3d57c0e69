"""The contract between the trainer and anything that learns (PPO, DQN, a GAN, an SB3 adapter).

A learner owns its math; the trainer owns the loop around it. Each tick the trainer asks the
learner to ``collect`` (an RL rollout, a batch of real images) and then, for each optimisation
*phase* (PPO: one; a GAN: discriminator and generator), iterates ``losses(phase, batch)`` and
takes one optimizer step per yielded loss, with mixed precision, gradient clipping and a
NaN/inf guard applied the same way for every learner (stylegan2-ada's phases).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

import torch


@dataclass
class Phase:
    """One optimisation phase: its optimizer, the parameters it clips, and how often it runs."""

    name: str
    optimizer: torch.optim.Optimizer
    parameters: list[torch.nn.Parameter]
    max_grad_norm: float | None = None
    every: int = 1  # run on every `every`-th tick (GAN: a generator step every n_critic ticks)
    lr_schedule: Callable[[float], float] | None = None  # training progress in [0,1] -> lr multiplier
    base_lrs: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.base_lrs:
            self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]


class Learner(Protocol):
    """What the trainer needs from a learner. See agents/ppo.py for a full example."""

    step_unit: str  # what `steps` count, for the progress line: "env steps", "images", ...

    def phases(self) -> list[Phase]: ...

    def modules(self) -> dict[str, torch.nn.Module]:
        """The networks, for compile and device placement."""

    def collect(self, source: Any) -> tuple[Any, int]:
        """Gather what one tick learns from; return it and the number of steps it counts for."""

    def losses(self, phase: Phase, batch: Any) -> Iterator[torch.Tensor]:
        """Yield one loss per optimizer step of `phase`; stop early to end the phase."""

    def evaluate(self, source: Any, episodes: int) -> dict[str, float]:
        """Evaluate without learning; RL returns at least 'return_mean'."""

    def log_metrics(self) -> dict[str, float]:
        """Namespaced metrics ('train/...', 'loss/...') since the last call; resets them."""

    def state_dict(self) -> dict[str, Any]: ...

    # optional: `inference_state_dict()` for best.pt (what acting needs, e.g. without a replay buffer)

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Mean:
    """Running means of scalar metrics, kept as tensors so logging is the only sync point.

    Part of a learner's state, so a resumed run logs exactly what an uninterrupted one would.
    """

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, value: torch.Tensor | float, n: int = 1) -> None:
        value = value.detach().float() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
        self.sums[name] = self.sums[name] + value * n if name in self.sums else value * n
        self.counts[name] = self.counts.get(name, 0) + n

    def pop_vector(self, name: str, names: tuple[str, ...]) -> dict[str, float]:
        """Pop a vector-valued metric (several scalars added with one op) as named floats."""
        if name not in self.sums or not self.counts[name]:
            return {}
        values = (self.sums.pop(name) / self.counts.pop(name)).tolist()
        return dict(zip(names, values))

    def pop(self) -> dict[str, float]:
        out = {k: float(v) / self.counts[k] for k, v in self.sums.items() if self.counts[k]}
        self.sums, self.counts = {}, {}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums, self.counts = dict(state["sums"]), dict(state["counts"])
