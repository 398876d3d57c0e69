"""The root config of a lab run, the schema registry, and the run-level validation.

Hydra composes ``conf/``; every group is checked against a dataclass registered here, so a
misspelt key or a wrong type fails at start. Ranges and choices live in the field metadata
(``lab.core.config.spec``) and are checked by :func:`validate`, which returns one readable line.

This module must stay light: ``python -m lab --help`` and a rejected override import it but
must not import torch, wandb or stable-baselines3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from lab.core.config import LoggerConfig, TrainerConfig, WandbConfig, check_node, spec


@dataclass
class RunTrainerConfig(TrainerConfig):
    """The `trainer` section: the core loop's keys (lab/core/config.py) and the application's hooks."""

    video_every: Any = spec("auto", ge=0, words=("auto",),
                            help="record one deterministic eval episode to <run>/media/step_<N>.mp4 (and W&B): "
                                 "auto: whenever videos so far stay under 3% of the wall time; "
                                 "N: every N steps and at the end; 0: off (lab/video.py)")


@dataclass
class LabConfig:
    """The root config: ``cfg.agent`` and ``cfg.env`` are typed by their group's schema."""

    seed: int = spec(0, ge=0)
    runs_dir: str = "runs"
    experiment: Optional[str] = spec(None, help="a name grouping related runs (W&B group)")
    agent: Any = MISSING
    env: Any = None    # RL agents learn from env= ...
    data: Any = None   # ... GANs from data=
    trainer: RunTrainerConfig = field(default_factory=RunTrainerConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


# Keys that moved (issue 14: the core names no RL word): an override of the old name is refused
# with the new one, and a run saved before the move is read with its keys moved.
MOVED_KEYS = {"trainer.eval_episodes": "env.eval_episodes", "trainer.stop_return": "trainer.stop_at"}


def migrate(saved: Any) -> Any:
    """A config read back from a run saved by an older lab, with MOVED_KEYS moved (in place).
    A moved key without a section to go to (trainer.eval_episodes of a GAN run) is dropped."""
    for old, new in MOVED_KEYS.items():
        (old_section, old_key), (new_section, new_key) = old.split("."), new.split(".")
        node = saved.get(old_section)
        if node is None or old_key not in node:
            continue
        value = node.pop(old_key)
        if saved.get(new_section) is not None and new_key not in saved[new_section]:
            saved[new_section][new_key] = value
    return saved


def _register_resolvers() -> None:
    # At import, not in main(): sweep workers (joblib, submitit) resolve run directories too.
    if not OmegaConf.has_resolver("lab_source"):
        # the run directory names what was learned from: the env for RL, the dataset for GANs
        OmegaConf.register_new_resolver("lab_source", lambda env, data: data if env == "none" else env)


_register_resolvers()


def register_configs() -> None:
    """Put the schemas in Hydra's ConfigStore; group yaml files name theirs in their defaults."""
    from hydra.core.config_store import ConfigStore

    from agents.config import AGENT_SCHEMAS
    from envs.config import ENV_SCHEMAS
    from envs.data_config import DATA_SCHEMAS

    cs = ConfigStore.instance()
    cs.store(name="lab_schema", node=LabConfig)
    cs.store(group="trainer", name="trainer_schema", node=RunTrainerConfig)
    cs.store(group="logger", name="logger_schema", node=LoggerConfig)
    for name, schema in AGENT_SCHEMAS.items():
        cs.store(group="schema/agent", name=name, node=schema)
    for name, schema in ENV_SCHEMAS.items():
        cs.store(group="schema/env", name=name, node=schema)
    for name, schema in DATA_SCHEMAS.items():
        cs.store(group="schema/data", name=name, node=schema)


# --------------------------------------------------------------------------- validation


def validate(cfg: DictConfig) -> str | None:
    """Return one readable line for the first out-of-range or invalid value, else None."""
    err = check_node(cfg, "")
    if err:
        return err
    schema = OmegaConf.get_type(cfg.agent)
    kind = "gan" if getattr(schema, "kind", "rl") == "gan" else "rl"  # the SB3 backend is RL too
    if kind == "gan" and cfg.get("env"):
        return (f"agent={cfg.agent.name} is a GAN: it learns from data=..., not env={cfg.env.get('id', '?')} "
                f"(drop the env override)")
    if kind == "rl" and cfg.get("data"):
        return (f"agent={cfg.agent.name} is an RL agent: it learns from env=..., not data={cfg.data.get('name', '?')} "
                f"(drop the data override)")
    if kind == "rl" and not cfg.get("env"):
        return f"agent={cfg.agent.name} needs an env (env=cartpole, ...)"
    if cfg.trainer.get("distributed") == "ddp" and kind != "gan":
        return (f"trainer.distributed=ddp is for GANs (agent=gan, dcgan, wgan_gp, sngan, cgan); "
                f"agent={cfg.agent.name} trains in one process")
    checker = getattr(schema, "check", None)
    return checker(cfg) if checker else None


