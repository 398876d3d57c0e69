"""lab: a research lab for reinforcement learning and GANs.

One Hydra command trains anything the lab knows::

    python -m lab agent=ppo env=cartpole

and the same from Python::

    from lab import train
    result = train("agent=ppo", "env=cartpole", "seed=1")   # lab/api.py: a Result

``lab.core`` is the core every learner shares (the contract, the trainer loop, runtime,
checkpoints, loggers); the other modules of ``lab`` are the application layer above it: the CLI
(``__main__``, ``preflight``), the config registry (``config``), composing a run (``run``), the run
directory (``rundir``), and the tools (``watch``, ``tune``, ``report``, ``sweep``, ``bench``).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["train", "Result"]


def __getattr__(name: str) -> Any:
    # lazily, so `import lab` (and every `python -m lab.X`) stays light
    if name in ("train", "Result"):
        from lab import api

        return getattr(api, name)
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
