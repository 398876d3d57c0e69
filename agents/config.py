"""Config schemas of the learners (torch-free, so the CLI can validate without importing torch).

Each schema configures one file: ``PPOConfig`` -> ``agents/ppo.py``. Ranges and choices are in
``spec(...)`` metadata and checked at start by ``lab.config.validate``; ``check`` holds the
cross-field rules that need the env section too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lab.config import spec


@dataclass
class PPOConfig:
    """Proximal Policy Optimization (Schulman et al. 2017); names follow the paper and SB3."""

    name: str = "ppo"
    policy: str = spec("auto", choices=("auto", "mlp", "cnn"), help="auto: cnn for image observations")
    hidden_sizes: list[int] = spec([64, 64])
    activation: str = spec("tanh", choices=("tanh", "relu"))
    ortho_init: bool = True
    lr: float = spec(3e-4, gt=0)
    anneal_lr: bool = spec(True, help="linearly anneal the learning rate to 0 over trainer.total_steps")
    n_steps: int = spec(128, gt=0, help="rollout length per env")
    batch_size: int = spec(256, gt=0, help="minibatch size (transitions)")
    n_epochs: int = spec(4, gt=0)
    gamma: float = spec(0.99, gt=0, le=1)
    gae_lambda: float = spec(0.95, ge=0, le=1)
    clip_range: float = spec(0.2, gt=0)
    clip_range_vf: Optional[float] = spec(None, gt=0, help="clip the value update (None: off)")
    ent_coef: float = spec(0.0, ge=0)
    vf_coef: float = spec(0.5, ge=0)
    max_grad_norm: Optional[float] = spec(0.5, gt=0)
    normalize_advantage: bool = True
    target_kl: Optional[float] = spec(None, gt=0, help="stop the epoch loop early when approx KL exceeds it")
    normalize_obs: bool = False
    normalize_reward: bool = False
    clip_obs: float = spec(10.0, gt=0)
    log_std_init: float = 0.0

    @staticmethod
    def check(cfg) -> str | None:
        rollout = cfg.agent.n_steps * cfg.env.num_envs
        if cfg.agent.batch_size > rollout:
            return (f"agent.batch_size={cfg.agent.batch_size} is larger than one rollout "
                    f"(agent.n_steps x env.num_envs = {rollout})")
        return None


AGENT_SCHEMAS = {"ppo": PPOConfig}
