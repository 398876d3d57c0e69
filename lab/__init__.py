"""lab: a research lab for reinforcement learning and GANs.

One Hydra command trains anything the lab knows::

    python -m lab agent=ppo env=cartpole

Modules here are the shared core: the CLI (``__main__``), config schema (``config``),
cfg-to-objects (``run``), the training loop (``trainer``), checkpoints and loggers.
"""

__version__ = "0.1.0"
