"""The lab's core: what every learner shares, knowing no agent, env or dataset.

- ``learner``: the contract (phases, losses as a generator, evaluate -> Evaluation);
- ``trainer``: the one training loop (precision, clipping, the NaN guard, checkpoints, stop rules);
- ``runtime``: device, precision, seeding, threads, memory budgets, random-number generators;
- ``checkpoint``: atomic writes and exact-resume loading; ``loggers``: jsonl, console, W&B, TensorBoard;
- ``distributed``: data-parallel averaging under torchrun; ``errors``: LabError;
- ``config``: the config-spec helpers and the core's own typed sections (trainer, logger, wandb);
- ``media``: video and image writing.

``agents/`` and ``envs/`` import this package only; the application layer (the rest of ``lab``)
builds on all three. The rule is checked by import-linter (pyproject.toml).
"""
