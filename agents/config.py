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


@dataclass
class DQNConfig:
    """Deep Q-Networks (Mnih et al. 2015) with the usual extensions as flags; names follow SB3.

    Defaults are SB3's DQN; agent_env/dqn_<env>.yaml holds tuned ones. Steps are env steps
    (a vector step of N envs counts N), as in SB3.
    """

    name: str = "dqn"
    policy: str = spec("auto", choices=("auto", "mlp", "cnn"), help="auto: cnn for image observations")
    hidden_sizes: list[int] = spec([64, 64])
    activation: str = spec("relu", choices=("tanh", "relu"))
    dueling: bool = spec(False, help="Q = V + A - mean(A) (Wang et al. 2016)")
    lr: float = spec(1e-4, gt=0)
    adam_eps: float = spec(1e-8, gt=0)
    buffer_size: int = spec(1_000_000, gt=0, help="replay capacity in transitions")
    batch_size: int = spec(32, gt=0)
    learning_starts: int = spec(100, ge=0, help="random actions for this many env steps; train once the "
                                                 "replay holds this many transitions")
    gamma: float = spec(0.99, gt=0, le=1)
    n_step: int = spec(1, gt=0, help="n-step returns (cut at episode ends)")
    train_freq: int = spec(4, gt=0, help="vector env steps per collect tick")
    gradient_steps: int = spec(1, ge=-1, help="gradient steps per tick; -1: as many as env steps collected")
    target_update_interval: int = spec(10_000, gt=0, help="update the target network every N env steps")
    tau: float = spec(1.0, gt=0, le=1, help="1: hard target update (copy); < 1: Polyak averaging")
    double_q: bool = spec(False, help="Double DQN target (van Hasselt et al. 2016)")
    loss: str = spec("huber", choices=("huber", "mse"))
    max_grad_norm: Optional[float] = spec(10.0, gt=0)
    exploration_fraction: float = spec(0.1, ge=0, le=1, help="fraction of schedule_steps over which epsilon decays")
    exploration_initial_eps: float = spec(1.0, ge=0, le=1)
    exploration_final_eps: float = spec(0.05, ge=0, le=1)
    eval_epsilon: float = spec(0.0, ge=0, le=1, help="epsilon-greedy evaluation (0: greedy)")
    prioritized: bool = spec(False, help="proportional prioritised replay (Schaul et al. 2016)")
    per_alpha: float = spec(0.6, ge=0)
    per_beta0: float = spec(0.4, ge=0, le=1, help="importance-weight exponent, annealed to 1 over schedule_steps")
    per_eps: float = spec(1e-6, gt=0)
    frame_stack: int = spec(1, gt=0, help="k > 1: observations stack k frames on their leading axis; "
                                          "replay stores each frame once")
    save_replay: bool = spec(False, help="keep the replay in checkpoints; exact resume needs it")
    schedule_steps: Optional[int] = spec(None, gt=0, help="steps the epsilon and beta schedules span "
                                                          "(conf/agent/dqn.yaml: ${trainer.total_steps})")

    @staticmethod
    def check(cfg) -> str | None:
        a, n = cfg.agent, cfg.env.num_envs
        if a.gradient_steps == 0:
            return "agent.gradient_steps=0: give a positive number, or -1 for one per env step collected"
        if a.schedule_steps is None:
            return "agent.schedule_steps is not set (conf/agent/dqn.yaml sets it to ${trainer.total_steps})"
        rows = -(-a.buffer_size // n)
        if rows < a.n_step + a.frame_stack + 1:
            return (f"agent.buffer_size={a.buffer_size} is too small for env.num_envs={n} "
                    f"with agent.n_step={a.n_step} and agent.frame_stack={a.frame_stack}")
        if a.batch_size > a.buffer_size:
            return f"agent.batch_size={a.batch_size} is larger than agent.buffer_size={a.buffer_size}"
        return None


AGENT_SCHEMAS = {"ppo": PPOConfig, "dqn": DQNConfig}
