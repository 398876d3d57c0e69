"""The root config of a lab run, the schema registry, and the run-level validation.

Hydra composes ``conf/``; every group is checked against a dataclass registered here, so a
misspelt key or a wrong type fails at start. Ranges and choices live in the field metadata
(``lab.core.config.spec``) and are checked by :func:`validate`, which returns one readable line.

This module must stay light: ``python -m lab --help`` and a rejected override import it but
must not import torch, wandb or stable-baselines3.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from lab.core.config import LoggerConfig, TrainerConfig, WandbConfig, check_node, spec
from lab.core.errors import LabError


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
    """A config read back from a run saved by an older lab, with MOVED_KEYS moved (in place) and
    agent.learner filled in. A moved key without a section to go to (trainer.eval_episodes of a
    GAN run) is dropped."""
    agent = saved.get("agent")
    if agent is not None and "learner" not in agent:
        # before agent.learner existed, the agent's name (its conf/agent option) said which module built it
        module = agent_learners().get(str(agent.get("name", "")))
        if module:
            agent["learner"] = module
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


CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def learner_schema(module: str) -> type:
    """The config schema of the learner built by `module`: the lab's own from agents/config.py
    (without importing the module, so no torch), any other from the module's `CONFIG`."""
    import importlib

    from agents.config import SCHEMAS

    if module in SCHEMAS:
        return SCHEMAS[module]
    try:
        schema = getattr(importlib.import_module(module), "CONFIG", None)
    except ImportError as exc:
        raise LabError(f"learner module {module!r} cannot be imported: {exc} (is it on PYTHONPATH?)") from None
    if schema is None or not dataclasses.is_dataclass(schema):
        raise LabError(f"learner module {module!r} has no CONFIG dataclass (its config schema)")
    return schema


def agent_learners(search_dirs: Iterable[str | Path] = ()) -> dict[str, str]:
    """agent option -> learner module, read from the `learner:` key of every conf/agent/*.yaml
    (and agent/*.yaml of each extra config directory, e.g. a hydra.searchpath entry)."""
    import yaml

    out: dict[str, str] = {}
    for root in [CONF_DIR, *map(Path, search_dirs)]:
        for path in sorted((root / "agent").glob("*.yaml")):
            data = yaml.safe_load(path.read_text()) or {}
            module = data.get("learner") or (data.get("agent") or {}).get("learner")
            if isinstance(module, str):
                out.setdefault(path.stem, module)  # the first config directory wins, as in Hydra
    return out


def search_dirs(argv: Iterable[str]) -> list[str]:
    """The file:// directories of a `hydra.searchpath=[...]` override in `argv`."""
    found: list[str] = []
    for arg in argv:
        if arg.startswith("hydra.searchpath="):
            from hydra.core.override_parser.overrides_parser import OverridesParser

            try:
                value = OverridesParser.create().parse_override(arg).value()
            except Exception:  # the preflight reports a malformed override
                continue
            found += [str(e)[len("file://"):] for e in (value if isinstance(value, list) else [value])
                      if str(e).startswith("file://")]
    return found


def register_configs(search_dirs: Iterable[str | Path] = ()) -> None:
    """Put the schemas in Hydra's ConfigStore; group yaml files name theirs in their defaults.

    Each agent option `X` (conf/agent/X.yaml, or X.yaml under agent/ of a `search_dirs` entry) gets
    `schema/agent/X`: the schema of the learner module its `learner:` key names."""
    from hydra.core.config_store import ConfigStore

    from envs.config import ENV_SCHEMAS
    from envs.data_config import DATA_SCHEMAS

    cs = ConfigStore.instance()
    cs.store(name="lab_schema", node=LabConfig)
    cs.store(group="trainer", name="trainer_schema", node=RunTrainerConfig)
    cs.store(group="logger", name="logger_schema", node=LoggerConfig)
    for name, module in agent_learners(search_dirs).items():
        cs.store(group="schema/agent", name=name, node=learner_schema(module))
    for name, schema in ENV_SCHEMAS.items():
        cs.store(group="schema/env", name=name, node=schema)
    for name, schema in DATA_SCHEMAS.items():
        cs.store(group="schema/data", name=name, node=schema)


# --------------------------------------------------------------------------- validation


def validate(cfg: DictConfig) -> str | None:
    """Return one readable line for the first out-of-range or invalid value, else None.

    What the run learns from (env=..., data=..., or both) must be what the learner's schema says
    it learns from (`learns_from`); that, and nothing else, makes a run RL or a GAN."""
    err = check_node(cfg, "")
    if err:
        return err
    schema = OmegaConf.get_type(cfg.agent)
    name = cfg.agent.get("name", "?")
    wants = getattr(schema, "learns_from", ("env",))
    given = [k for k in ("env", "data") if cfg.get(k)]
    shown = {"env": lambda: f"env={cfg.env.get('id', '?')}", "data": lambda: f"data={cfg.data.get('name', '?')}"}
    for extra in (k for k in given if k not in wants):
        return (f"agent={name} learns from {' and '.join(f'{w}=...' for w in wants)}, not {shown[extra]()} "
                f"(drop the {extra} override)")
    for missing in (k for k in wants if k not in given):
        example = "env=cartpole" if missing == "env" else "data=digits"
        return f"agent={name} needs {'an env' if missing == 'env' else 'a dataset'} ({example}, ...)"
    if cfg.trainer.get("distributed") == "ddp" and not getattr(schema, "data_parallel", False):
        able = sorted(n for n, m in agent_learners().items() if getattr(learner_schema(m), "data_parallel", False))
        return (f"trainer.distributed=ddp needs a learner with a data-parallel mode (agent={', '.join(able)}); "
                f"agent={name} trains in one process")
    checker = getattr(schema, "check", None)
    return checker(cfg) if checker else None
