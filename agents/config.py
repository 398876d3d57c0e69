"""Config schemas of the lab's own learners (torch-free, so the CLI validates without importing torch).

Each schema configures one file, named by its `learner` key: ``PPOConfig`` -> ``agents/ppo.py``,
whose module-level ``CONFIG`` is this class. A schema says what its learner learns from
(``learns_from``: "env", "data" or both) and whether it has a data-parallel mode. Ranges and
choices are in ``spec(...)`` metadata and checked at start by ``lab.config.validate``; ``check``
holds the cross-field rules that need other sections too. A learner outside the lab declares
its schema in its own module instead (README, "A new kind of learner").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from lab.core.config import spec


@dataclass
class PPOConfig:
    """Proximal Policy Optimization (Schulman et al. 2017); names follow the paper and SB3."""

    learns_from: ClassVar[tuple[str, ...]] = ("env",)

    learner: str = spec("agents.ppo", help="the module that builds this learner")
    name: str = "ppo"
    policy: str = spec("auto", choices=("auto", "mlp", "cnn", "grid", "impala", "lstm", "cnn_lstm", "grid_lstm",
                                        "impala_lstm"),
                       help="auto: cnn for image observations; impala: the IMPALA/Procgen residual CNN over pixels "
                            "or one-hot tile grids; *lstm: an LSTM between the encoder and the heads (lstm: the "
                            "auto encoder)")
    lstm_hidden: int = spec(64, gt=0, help="policy=*lstm: the LSTM's state size")
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

    learns_from: ClassVar[tuple[str, ...]] = ("env",)

    learner: str = spec("agents.dqn", help="the module that builds this learner")
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



@dataclass
class GANConfig:
    """GANs (agents/gan.py): one learner for agent=gan|dcgan|wgan_gp|sngan|cgan; presets differ in keys.

    Steps are generator steps; each runs after `n_critic` discriminator steps. Losses: `bce`
    (non-saturating, Goodfellow et al. 2014), `hinge` (Lim & Ye 2017), `wasserstein` (with
    `gp_weight`: Gulrajani et al. 2017), `mse` (LSGAN, Mao et al. 2017).
    """

    learns_from: ClassVar[tuple[str, ...]] = ("data",)
    data_parallel: ClassVar[bool] = True  # trainer.distributed=ddp

    learner: str = spec("agents.gan", help="the module that builds this learner (every GAN preset: agents/gan.py)")
    name: str = "gan"
    arch: str = spec("auto", choices=("auto", "mlp", "dcgan"), help="auto: mlp for 2-D points, dcgan for images")
    loss: str = spec("bce", choices=("bce", "hinge", "wasserstein", "mse"))
    z_dim: int = spec(64, gt=0, help="latent size")
    g_hidden: list[int] = spec([256, 256, 256], help="mlp generator widths")
    d_hidden: list[int] = spec([256, 256, 256], help="mlp discriminator widths")
    g_channels: int = spec(32, gt=0, help="dcgan: channels of the generator's last block (doubling towards 4x4)")
    d_channels: int = spec(32, gt=0, help="dcgan: channels of the discriminator's first block (doubling)")
    g_activation: str = spec("relu", choices=("relu", "leaky_relu", "tanh", "sigmoid", "swish"))
    d_activation: str = spec("leaky_relu", choices=("relu", "leaky_relu", "tanh", "sigmoid", "swish"))
    spectral_norm: bool = spec(False, help="spectral normalisation of D's layers (Miyato et al. 2018)")
    gp_weight: float = spec(0.0, ge=0, help="gradient penalty on real/fake interpolates (WGAN-GP: 10)")
    r1_gamma: float = spec(0.0, ge=0, help="R1 penalty gamma/2 |grad D(real)|^2 (Mescheder et al. 2018)")
    r1_every: int = spec(1, gt=0, help="lazy R1 (Karras et al. 2020): the penalty on every k-th D step, scaled by k")
    r1_decay: bool = spec(False, help="scale r1_gamma with D's learning-rate schedule (strong early, 0 at the end)")
    n_critic: int = spec(1, gt=0, help="discriminator steps per generator step")
    pack: int = spec(1, gt=0, help="PacGAN: D judges `pack` samples at once (Lin et al. 2018)")
    batch_size: int = spec(64, gt=0)
    g_lr: float = spec(2e-4, gt=0)
    d_lr: float = spec(2e-4, gt=0)
    beta1: float = spec(0.5, ge=0, lt=1)
    beta2: float = spec(0.999, ge=0, lt=1)
    lr_decay: bool = spec(False, help="anneal both learning rates linearly to 0 over trainer.total_steps")
    max_grad_norm: Optional[float] = spec(None, gt=0)
    ema_beta: float = spec(0.999, ge=0, lt=1, help="EMA of G's weights for samples and metrics (0: off)")
    conditional: bool = spec(False, help="class-conditional G (cond. BN / embedding) and projection D")
    eval_samples: int = spec(2500, ge=2, help="samples per evaluation (PacGAN: 2,500; FID: real and fake)")
    level_output: str = spec("softmax", choices=("softmax", "straight_through"),
                             help="data=mario_levels: G's cells as a softmax over codes, or straight-through: the "
                                  "one-hot argmax (what decoding shows) with the softmax's gradient")

    @staticmethod
    def check(cfg) -> str | None:
        a = cfg.agent
        if a.batch_size % a.pack:
            return f"agent.batch_size={a.batch_size} must be a multiple of agent.pack={a.pack}"
        if a.conditional and a.pack > 1:
            return "agent.conditional=true needs agent.pack=1 (a packed D sees several labels at once)"
        if cfg.trainer.compile and (a.gp_weight > 0 or a.r1_gamma > 0):
            return ("trainer.compile=true cannot differentiate twice (agent.gp_weight / agent.r1_gamma "
                    "penalties): set trainer.compile=false or the penalty to 0")
        return None




@dataclass
class SB3Config:
    """stable-baselines3 as a reference backend (agents/sb3.py): SB3's constructor arguments in
    `hyperparams` (rl-baselines3-zoo names; schedules as 'lin_0.001')."""

    learns_from: ClassVar[tuple[str, ...]] = ("env",)

    learner: str = spec("agents.sb3", help="the module that builds this learner")
    name: str = "sb3_ppo"
    algo: str = spec("ppo", choices=("ppo", "dqn", "a2c", "sac", "recurrent_ppo"),
                     help="recurrent_ppo: sb3-contrib's RecurrentPPO")
    policy: str = spec("MlpPolicy", choices=("MlpPolicy", "CnnPolicy", "MlpLstmPolicy", "CnnLstmPolicy"))
    hyperparams: dict[str, Any] = spec({})
    normalize: bool = spec(False, help="SB3's VecNormalize (observations and rewards), as rl-zoo's `normalize: true`")
    chunk_steps: int = spec(2048, gt=0, help="env steps SB3 trains between the lab's ticks (eval, checkpoints)")
    budget: int = spec(100_000, gt=0, help="the run's length for SB3's schedules (set to trainer.total_steps)")
    save_replay: bool = spec(False, help="keep an off-policy replay buffer in checkpoints")


@dataclass
class GAILConfig(PPOConfig):
    """Generative adversarial imitation (Ho & Ermon 2016): PPO (every PPO key) whose reward is a
    discriminator's, trained to tell the demonstrator's transitions from the policy's."""

    learner: str = spec("agents.gail", help="the module that builds this learner")
    name: str = "gail"
    demos: str = spec("", help="the demos file to imitate (python -m lab.demos RUN or python -m lab.demos solver)")
    demo_episodes: Optional[int] = spec(None, gt=0, help="imitate the file's first N episodes (None: all)")
    disc_input: str = spec("sa", choices=("sa", "s", "ss"),
                           help="what D judges: (s, a) as GAIL; s alone; or (s, s') as state-only AIRL")
    disc_hidden: list[int] = spec([64, 64], help="the discriminator MLP's widths")
    disc_lr: float = spec(3e-4, gt=0)
    disc_steps: int = spec(4, gt=0, help="discriminator steps per rollout (before the policy's update)")
    disc_batch_size: int = spec(256, gt=0, help="expert and policy transitions per discriminator step (each)")
    disc_grad_penalty: float = spec(0.0, ge=0, help="weight of (|grad D| - 1)^2 on expert/policy interpolates "
                                                    "(Kostrikov et al. 2019; 10 is usual)")
    reward: str = spec("gail", choices=("gail", "airl"),
                       help="gail: -log(1 - D) (positive, a bonus for surviving); airl: log D - log(1 - D) "
                            "(the logit, either sign)")

    @staticmethod
    def check(cfg) -> str | None:
        if not cfg.agent.demos:
            return (f"agent={cfg.agent.name} needs agent.demos=FILE, the demonstrations to imitate: record them "
                    f"with `python -m lab.demos RUN --episodes 10` (a trained run) or `python -m lab.demos "
                    f"solver env=mario env.level=...` (the Mario solver)")
        return PPOConfig.check(cfg)


@dataclass
class BCConfig:
    """Behaviour cloning: supervised learning of the demonstrator's action from its observation
    (Pomerleau 1991); the baseline every imitation paper reports. Steps count demo samples."""

    learns_from: ClassVar[tuple[str, ...]] = ("env",)

    learner: str = spec("agents.bc", help="the module that builds this learner")
    name: str = "bc"
    demos: str = spec("", help="the demos file to clone (python -m lab.demos)")
    demo_episodes: Optional[int] = spec(None, gt=0, help="clone the file's first N episodes (None: all)")
    hidden_sizes: list[int] = spec([64, 64])
    activation: str = spec("relu", choices=("tanh", "relu"))
    lr: float = spec(1e-3, gt=0)
    batch_size: int = spec(256, gt=0, help="demo transitions per step")
    weight_decay: float = spec(0.0, ge=0)
    ent_weight: float = spec(1e-3, ge=0, help="discrete actions: entropy bonus (imitation's BC default)")
    max_grad_norm: Optional[float] = spec(None, gt=0)

    @staticmethod
    def check(cfg) -> str | None:
        if not cfg.agent.demos:
            return (f"agent={cfg.agent.name} needs agent.demos=FILE, the demonstrations to clone: record them "
                    f"with `python -m lab.demos RUN --episodes 10` or `python -m lab.demos solver env=mario ...`")
        return None


# The lab's own learners by module: their schemas without importing them (and torch).
SCHEMAS: dict[str, type] = {"agents.ppo": PPOConfig, "agents.dqn": DQNConfig, "agents.gan": GANConfig,
                            "agents.sb3": SB3Config, "agents.gail": GAILConfig, "agents.bc": BCConfig}
