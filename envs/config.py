"""Config schemas of what the learners learn from (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


def _choices(default: Any, choices: tuple, help: str = "") -> Any:
    # envs/ may not import lab/, so the metadata format of lab.config.spec is repeated here.
    return field(default=default, metadata={"choices": choices, "help": help})


@dataclass
class GymEnvConfig:
    """Any registered Gymnasium id, vectorised. Autoreset is always NEXT_STEP (Gymnasium's default)."""

    name: str = "gym"
    id: str = "CartPole-v1"
    num_envs: int = field(default=8, metadata={"gt": 0})
    vectorization: str = _choices("auto", ("auto", "native", "sync", "async"),
                                  "auto: the env's own vector implementation when it has one, else sync")
    max_episode_steps: Optional[int] = field(default=None, metadata={"gt": 0})
    kwargs: dict[str, Any] = field(default_factory=dict)


ENV_SCHEMAS = {"gym": GymEnvConfig}
