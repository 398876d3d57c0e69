"""Explicit randomness: every learner and source draws from generators derived from the run seed.

    seeds = Seeds(cfg.seed)                   # lab/run.py passes it to build(source, cfg, device, seeds)
    rng = seeds.numpy("ppo")                  # a numpy Generator of its own
    with seeds.init("ppo/init"): net = ...    # initial weights from their own stream

One convention saves any generator: `generator_state(gen)` / `set_generator_state(gen, state)`
(numpy: its bit_generator.state dict; torch: its state tensor), and the evaluation seed rule
lives here (`eval_seed`). Light: torch is imported only by the torch helpers, so the envs use it
without paying for torch.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:
    import torch


EVAL_SEED_OFFSET = 10_000  # evaluation draws from seed + 10_000: apart from training's streams


def eval_seed(seed: int) -> int:
    """The seed evaluations use (the same every evaluation, so they are comparable)."""
    return seed + EVAL_SEED_OFFSET


class Seeds:
    """The run's random-number generators, each derived from the run seed and a name.

        seeds = Seeds(cfg.seed)
        rng = seeds.numpy("ppo/minibatches")      # np.random.Generator
        gen = seeds.torch("gan/batches")          # torch.Generator (CPU)

    Streams of different names are independent (numpy's SeedSequence with the name as spawn
    key), and the same (seed, name) always gives the same stream, so a learner that adds a
    stream does not shift the others. Their states go into checkpoints through
    `generator_state` / `set_generator_state`."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def derive(self, name: str) -> int:
        """A 63-bit seed for `name`."""
        words = np.random.SeedSequence(self.seed, spawn_key=tuple(name.encode())).generate_state(2, np.uint32)
        return (int(words[0]) << 32 | int(words[1])) & (2**63 - 1)

    def numpy(self, name: str) -> np.random.Generator:
        return np.random.default_rng(self.derive(name))

    def torch(self, name: str) -> torch.Generator:
        import torch

        return torch.Generator().manual_seed(self.derive(name))

    @contextlib.contextmanager
    def init(self, name: str) -> Iterator[None]:
        """Build networks inside this: torch's global RNG, which nn.Module initialisation draws
        from, is seeded with `name`'s stream and restored afterwards, so the initial weights
        depend on the run seed and the name only (not on what ran before)."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.derive(name))
            yield

    @property
    def eval_seed(self) -> int:
        return eval_seed(self.seed)


def generator_state(gen: np.random.Generator | torch.Generator) -> Any:
    """A generator's state, as types `torch.load(weights_only=True)` accepts (the one convention
    for saving RNG state: numpy's bit_generator.state dict, torch's state tensor)."""
    if isinstance(gen, np.random.Generator):
        return gen.bit_generator.state
    return gen.get_state()  # a torch.Generator


def set_generator_state(gen: np.random.Generator | torch.Generator, state: Any) -> None:
    """Restore `generator_state(gen)` into `gen` (in place; numpy: the same kind of bit generator)."""
    if isinstance(gen, np.random.Generator):
        gen.bit_generator.state = state
    else:  # a torch.Generator
        gen.set_state(state)


def numpy_generator(state: dict[str, Any]) -> np.random.Generator:
    """A new numpy generator in the saved `generator_state` (of whatever bit generator it names)."""
    gen = np.random.Generator(getattr(np.random, state["bit_generator"])())
    gen.bit_generator.state = state
    return gen
