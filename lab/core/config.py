"""Config-spec helpers and the core's own typed config sections (trainer, W&B, loggers).

A schema is a dataclass; ranges and choices live in field metadata (``spec(...)``) and are
checked by :func:`check_node`, which returns one readable line. Torch-free: the CLI validates
overrides with it before anything heavy is imported.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf


def spec(default: Any = MISSING, *, gt: float | None = None, ge: float | None = None,
         le: float | None = None, lt: float | None = None,
         choices: tuple[Any, ...] | None = None, words: tuple[str, ...] | None = None, help: str = "") -> Any:
    """A dataclass field with a range or a set of valid choices, checked by `validate`.

    `words`: a number field (typed Any) that also takes these words, e.g. video_every=auto."""
    meta = {k: v for k, v in dict(gt=gt, ge=ge, le=le, lt=lt, choices=choices, words=words, help=help).items()
            if v not in (None, "")}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainerConfig:
    """The shared training loop (lab/core/trainer.py). Steps are the learner's own unit (its step_unit)."""

    total_steps: int = spec(100_000, gt=0, help="training budget in domain steps")
    eval_every: int = spec(10_000, ge=0, help="evaluate every N steps (0: only at the end)")
    checkpoint_every: int = spec(50_000, ge=0, help="write checkpoints/last.pt every N steps (0: only at the end)")
    log_every: int = spec(2_000, ge=0, help="write a metrics.jsonl line every N steps (0: every tick)")
    stop_at: Optional[float] = spec(None, help="stop early once an evaluation's score reaches this (the score "
                                               "the learner's evaluate() names, in its direction)")
    resume: Optional[str] = spec(None, help="'auto' or a checkpoint path")
    device: str = spec("auto", choices=("auto", "cpu", "cuda", "mps"))
    precision: str = spec("32", choices=("32", "bf16", "fp16"))
    compile: bool = False
    threads: int = spec(1, ge=0, help="torch CPU threads (0: torch's default); 1 is fastest for small nets")
    deterministic: bool = spec(False, help="torch.use_deterministic_algorithms (slower on GPU)")
    distributed: str = spec("none", choices=("none", "ddp"),
                            help="ddp: data-parallel training over the processes torchrun starts "
                                 "(learners that support it)")
    time_limit_min: Optional[float] = spec(None, gt=0, help="stop (with a checkpoint) after this many minutes")


@dataclass
class WandbConfig:
    """Weights & Biases. mode None means: online when credentials are configured, else offline."""

    mode: Optional[str] = spec(None, choices=(None, "online", "offline", "disabled"))
    project: str = "lab"
    entity: Optional[str] = None
    group: Optional[str] = None
    tags: list[str] = spec([])


@dataclass
class LoggerConfig:
    """Which loggers run besides metrics.jsonl (always on)."""

    console: bool = True
    tensorboard: bool = False


# --------------------------------------------------------------------------- validation


def _check_value(key: str, value: Any, meta: dict) -> str | None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        shown = ", ".join("null" if c is None else str(c) for c in choices)
        return f"{key}={value} is not a valid choice; choose one of: {shown}"
    words = meta.get("words")
    if words is not None and value in words:
        return None
    if words is not None and (isinstance(value, bool) or not isinstance(value, int)):
        bound = "".join(f" {sign} {meta[op]}" for op, sign in (("gt", ">"), ("ge", ">=")) if op in meta)
        return f"{key}={value} is not valid; use {', '.join(words)} or a whole number{bound}"
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    for op, bound, ok in (("gt", meta.get("gt"), lambda v, b: v > b), ("ge", meta.get("ge"), lambda v, b: v >= b),
                          ("lt", meta.get("lt"), lambda v, b: v < b), ("le", meta.get("le"), lambda v, b: v <= b)):
        if bound is not None and not ok(value, bound):
            sign = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op]
            return f"{key}={value} is out of range: it must be {sign} {bound}"
    return None


def check_node(node: Any, prefix: str) -> str | None:
    if not isinstance(node, DictConfig):
        return None
    schema = OmegaConf.get_type(node)
    if dataclasses.is_dataclass(schema):
        for f in dataclasses.fields(schema):
            key = f"{prefix}{f.name}"
            value = node[f.name] if f.name in node else None
            if isinstance(value, (DictConfig, ListConfig)):
                err = check_node(value, key + ".")
            else:
                err = _check_value(key, value, dict(f.metadata))
            if err:
                return err
    else:
        for name in node:
            err = check_node(node[name], f"{prefix}{name}.")
            if err:
                return err
    return None



def did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
