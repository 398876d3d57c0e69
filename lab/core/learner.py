"""The contract between the trainer and anything that learns.

A learner owns its math; the trainer owns the loop around it. Each tick the trainer asks the
learner to ``collect`` what the tick learns from (from its source) and then, for each
optimisation *phase* (one, or several with their own optimizers and intervals), iterates
``losses(phase, batch)`` and takes one optimizer step per yielded loss, with mixed precision,
gradient clipping and a NaN/inf guard applied the same way for every learner (stylegan2-ada's
phases). ``evaluate`` returns an ``Evaluation``: the learner names its own score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import torch


@dataclass
class Phase:
    """One optimisation phase: its optimizer, the parameters it clips, and how often it runs."""

    name: str
    optimizer: torch.optim.Optimizer
    parameters: list[torch.nn.Parameter]
    max_grad_norm: float | None = None
    every: int = 1  # run on every `every`-th tick (e.g. one phase every k ticks of another)
    lr_schedule: Callable[[float], float] | None = None  # training progress in [0,1] -> lr multiplier
    base_lrs: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.base_lrs:
            self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]


@dataclass
class Evaluation:
    """What `Learner.evaluate` returns: its metrics, which one is the score, and a line for people.

    The trainer keeps best.pt at the best score, stops at `trainer.stop_at`, and prints `summary`;
    it never looks inside `metrics` otherwise (they are logged as eval/<name>)."""

    metrics: dict[str, float]
    score: str  # the key of `metrics` that ranks checkpoints and stops runs
    higher_is_better: bool = True
    summary: str = ""  # one line for the console, e.g. "accuracy 0.93 ± 0.02 over 10 trials"

    @property
    def value(self) -> float:
        return float(self.metrics[self.score])

    def better(self, a: float, b: float) -> bool:
        """Is score `a` better than `b`?"""
        return a > b if self.higher_is_better else a < b

    def reaches(self, target: float) -> bool:
        """Is the score at `target` or better (trainer.stop_at)?"""
        return self.value >= target if self.higher_is_better else self.value <= target


class Source(Protocol):
    """What a learner learns from (a simulator, a dataset, ...). The trainer only hands it to the
    learner, logs it, saves it and closes it; these defaults are for sources with nothing to add."""

    def log_metrics(self) -> dict[str, float]:
        """Namespaced metrics of the source ('train/...') since the last call."""
        return {}

    def status(self) -> str:
        """A few words for the progress line."""
        return ""

    def state_dict(self) -> dict[str, Any] | None:
        """What exact resume needs of the source (None: nothing)."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> str | None:
        """Restore `state_dict()`; may return a note for the user (e.g. what could not be restored)."""
        return None

    def close(self) -> None:
        return None


class Learner(Protocol):
    """What the trainer needs from a learner.

    Learners subclass it (`class MyLearner(Learner)`) and so inherit the defaults of the optional
    methods below the line."""

    step_unit: str = "steps"  # what `steps` count, for the progress line ("env steps", "G steps", ...)

    def phases(self) -> list[Phase]: ...

    def modules(self) -> dict[str, torch.nn.Module]:
        """The networks, for compile and device placement."""
        ...

    def collect(self, source: Any) -> tuple[Any, int]:
        """Gather what one tick learns from; return it and the number of steps it counts for."""
        ...

    def losses(self, phase: Phase, batch: Any) -> Iterator[torch.Tensor]:
        """Yield one loss per optimizer step of `phase`; stop early to end the phase."""
        ...

    def evaluate(self, source: Any) -> Evaluation:
        """Evaluate without learning: the metrics, which one is the score, a one-line summary."""
        ...

    def log_metrics(self) -> dict[str, float]:
        """Namespaced metrics ('train/...', 'loss/...') since the last call; resets them."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    # ---------------------------------------------------------------- optional, with defaults
    def inference_state_dict(self) -> dict[str, Any]:
        """What best.pt keeps: what acting or sampling needs (e.g. no replay buffer)."""
        return self.state_dict()

    def status(self) -> str:
        """A few words for the progress line."""
        return ""

    def show(self, source: Any, out_dir: Path, seed: int) -> list[Path]:
        """What watching the learner shows, for learners whose source is not played step by step
        (lab.watch): write it into out_dir (e.g. fresh samples, a video), drawing with `seed`;
        return the files. Default: nothing to show."""
        return []

    def hooks(self, run_dir: Path, loggers: Any) -> dict[str, list[Callable[[Any], None]]]:
        """Trainer hooks the learner brings (event -> functions of the trainer), e.g. media
        written at each checkpoint. Called once, by the process that writes the run."""
        return {}

    def set_data_parallel(self, rank: int, world: int) -> None:
        """Train as process `rank` of `world` (trainer.distributed=ddp); raise ValueError if unsupported."""
        raise ValueError(f"{type(self).__name__} does not support trainer.distributed=ddp")


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
