"""Deep Q-Networks (Mnih et al. 2015, "Human-level control through deep reinforcement learning").

Read top to bottom in paper order: the Q-network Q(s, a; theta), epsilon-greedy acting that
stores transitions in an experience replay memory D, then minibatch updates of

    L(theta) = E_{(s,a,G,s') ~ D} [ huber( y - Q(s, a; theta) ) ],
    y        = G + gamma^m (1 - terminated) max_a' Q(s', a'; theta^-)

with a target network theta^- that follows theta every C env steps. The usual extensions are
flags: Double DQN (van Hasselt et al. 2016: a' chosen by theta, valued by theta^-), the
dueling head (Wang et al. 2016), n-step returns (Sutton 1988; Hessel et al. 2018),
proportional prioritised replay with annealed importance weights (Schaul et al. 2016),
Polyak target averaging, and MSE instead of the Huber loss. Discrete actions only.

Under NEXT_STEP autoreset the reset step's transition is not stored, a truncated episode
bootstraps from its true final observation and a terminated one does not (agents/replay.py).

    python -m lab agent=dqn env=cartpole
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.config import DQNConfig
from agents.networks import NatureCNN, NumpyMirror, conv_out_sizes, image_layout, is_image_space, make_adam, mlp
from agents.replay import ReplayBuffer
from lab.core.learner import Evaluation, Learner, Mean, Phase
from lab.core.rng import Seeds, generator_state, set_generator_state
from lab.core.runtime import require_memory


class QNetwork(nn.Module):
    """Q(s, .) for every action: an MLP or the Nature CNN, with a plain or a dueling head."""

    def __init__(self, obs_space: gym.spaces.Box, n_actions: int, cfg: DQNConfig) -> None:
        super().__init__()
        self.cnn = cfg.policy == "cnn" or (cfg.policy == "auto" and is_image_space(obs_space))
        self.dueling = cfg.dueling
        if self.cnn:
            self.torso: nn.Module = NatureCNN(obs_space.shape, 512)
            width = 512
        else:
            sizes = [int(np.prod(obs_space.shape)), *cfg.hidden_sizes]
            self.torso = nn.Sequential(nn.Flatten(), *mlp(sizes, cfg.activation, ortho=False),
                                       *([nn.ReLU() if cfg.activation == "relu" else nn.Tanh()]
                                         if cfg.hidden_sizes else []))
            width = sizes[-1]
        if cfg.dueling:
            # Q(s,a) = V(s) + A(s,a) - mean_a' A(s,a'): the mean keeps V and A identifiable
            self.value = nn.Linear(width, 1)
            self.advantage = nn.Linear(width, n_actions)
        else:
            self.head = nn.Linear(width, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        z = self.torso(obs if self.cnn else obs.float())
        if self.dueling:
            a = self.advantage(z)
            return self.value(z) + a - a.mean(-1, keepdim=True)
        return self.head(z)

    def greedy_net(self) -> nn.Sequential | None:
        """An MLP whose argmax is the greedy action (dueling: A alone, as V and mean A are per-state
        constants), for numpy acting; None for the CNN."""
        if self.cnn:
            return None
        layers = [m for m in self.torso if not isinstance(m, nn.Flatten)]
        return nn.Sequential(*layers, self.advantage if self.dueling else self.head)


class DQN(Learner):
    """The DQN learner: one optimisation phase, 'q', of `gradient_steps` steps per tick."""

    step_unit = "env steps"

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, num_envs: int, cfg: DQNConfig,
                 device: torch.device, seeds: Seeds) -> None:
        if not isinstance(action_space, gym.spaces.Discrete):
            raise ValueError(f"DQN needs a Discrete action space (one Q-value per action), not {action_space}")
        if not isinstance(obs_space, gym.spaces.Box):
            raise ValueError(f"DQN needs a Box observation space, not {obs_space}")
        if cfg.schedule_steps is None:
            raise ValueError("agent.schedule_steps is not set (conf/agent/dqn.yaml sets it to ${trainer.total_steps})")
        self.cfg, self.device, self.num_envs = cfg, device, num_envs
        self.n_actions = int(action_space.n)
        self.action_start = int(action_space.start)

        # ---------------------------------------------------------------- Q and the target network
        with seeds.init("dqn/init"):  # the initial weights: their own stream of the run seed
            self.q = QNetwork(obs_space, self.n_actions, cfg).to(device)
            self.q_target = QNetwork(obs_space, self.n_actions, cfg).to(device)
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.optimizer = make_adam(self.q.parameters(), cfg.lr, device, eps=cfg.adam_eps)

        # ---------------------------------------------------------------- replay memory D
        self._check_memory(obs_space)
        self.replay = ReplayBuffer(cfg.buffer_size, num_envs, obs_space.shape, obs_space.dtype,
                                   frame_stack=cfg.frame_stack, n_step=cfg.n_step, gamma=cfg.gamma,
                                   prioritized=cfg.prioritized, alpha=cfg.per_alpha, eps=cfg.per_eps)
        self.gradient_steps = cfg.gradient_steps if cfg.gradient_steps > 0 else cfg.train_freq * num_envs
        self.env_steps = 0   # counts every env step this learner took (vector step of N = N)
        self.updates = 0     # gradient steps taken
        self.stats = Mean()
        # Acting on a CPU MLP runs in numpy (see NumpyMirror); its RNG (exploration, replay
        # sampling) is the learner's own stream of the run seed, saved in checkpoints.
        self.rng = seeds.numpy("dqn")
        greedy = self.q.greedy_net()
        self.mirror = NumpyMirror(greedy) if greedy is not None and NumpyMirror.supports(greedy) else None

    def _check_memory(self, obs_space: gym.spaces.Box) -> None:
        """Refuse a replay memory or minibatch that cannot fit, before allocating it (the Nature
        setting, 1M transitions of 84x84 frames stored once, is ~7 GB; 1M full-size RGB frames ~180 GB)."""
        cfg = self.cfg
        replay = ReplayBuffer.nbytes_for(cfg.buffer_size, self.num_envs, obs_space.shape, obs_space.dtype,
                                         frame_stack=cfg.frame_stack, prioritized=cfg.prioritized)
        obs_elems = int(np.prod(obs_space.shape))
        per_sample = 2 * obs_elems  # s and s' as floats
        if self.q.cnn:  # conv + ReLU outputs, for theta (kept for backward) and for s' twice more
            per_sample += 4 * sum(conv_out_sizes(*image_layout(obs_space.shape)[1]))
        params = sum(p.numel() for p in self.q.parameters())
        stack = (f"set agent.frame_stack={obs_space.shape[0]} to store each stacked frame once, "
                 if cfg.frame_stack == 1 and self.q.cnn and image_layout(obs_space.shape)[0] in ("chw", "khwc")
                 and obs_space.shape[0] > 1 else "")
        require_memory(
            {"minibatch activations and gradients": 2 * 4 * cfg.batch_size * per_sample,
             "Q, target, gradients and Adam moments": 5 * 4 * params},
            self.device, f"agent.buffer_size or agent.batch_size, {stack}or shrink the observations",
            host_parts={"replay memory": replay})

    # ------------------------------------------------------------------ the contract
    def phases(self) -> list[Phase]:
        return [Phase("q", self.optimizer, list(self.q.parameters()), self.cfg.max_grad_norm)]

    def modules(self) -> dict[str, nn.Module]:
        return {"q": self.q, "q_target": self.q_target}

    # ------------------------------------------------------------------ schedules
    def epsilon(self) -> float:
        """Linear decay from the initial to the final epsilon over exploration_fraction of training."""
        cfg = self.cfg
        span = cfg.exploration_fraction * cfg.schedule_steps
        progress = 1.0 if span == 0 else min(self.env_steps / span, 1.0)
        return cfg.exploration_initial_eps + progress * (cfg.exploration_final_eps - cfg.exploration_initial_eps)

    def beta(self) -> float:
        """PER's importance-weight exponent, annealed linearly from beta0 to 1 over training."""
        progress = min(self.env_steps / self.cfg.schedule_steps, 1.0)
        return self.cfg.per_beta0 + progress * (1.0 - self.cfg.per_beta0)

    # ------------------------------------------------------------------ 1. acting, filling D
    def collect(self, source: Any) -> tuple[None, int]:
        """train_freq epsilon-greedy vector steps, each stored in the replay memory."""
        cfg, N = self.cfg, self.num_envs
        before = self.env_steps
        for _ in range(cfg.train_freq):
            obs = np.array(source.obs)  # a copy: some vector envs write the next observation in place
            if self.env_steps < cfg.learning_starts:
                actions = self.rng.integers(self.n_actions, size=N)  # D starts from a uniform policy
            else:
                actions = self._epsilon_greedy(obs, self.epsilon())
            _, reward, terminated, truncated, valid = source.step(actions + self.action_start)
            self.replay.add(obs, actions, reward, terminated, truncated, valid)
            self.env_steps += N
        # ---------------------------------------------------------------- target network: every C steps
        # theta^- is updated once per crossed multiple of C. Theta does not change while acting,
        # so k Polyak updates in one tick are one update with weight 1 - (1 - tau)^k.
        k = self.env_steps // cfg.target_update_interval - before // cfg.target_update_interval
        if k > 0:
            self._update_target(1.0 - (1.0 - cfg.tau) ** k)
        return None, cfg.train_freq * N

    def _epsilon_greedy(self, obs: np.ndarray, eps: float, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = rng or self.rng
        greedy = self._greedy(obs)
        if eps <= 0:
            return greedy
        explore = rng.random(len(greedy)) < eps
        return np.where(explore, rng.integers(self.n_actions, size=len(greedy)), greedy)

    def _greedy(self, obs: np.ndarray) -> np.ndarray:
        if self.mirror is not None and not torch.is_autocast_enabled("cpu"):
            x = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)  # the torso's nn.Flatten
            return self.mirror(x).argmax(-1)
        q = self.q(torch.as_tensor(np.asarray(obs)).to(self.device, non_blocking=True))
        return q.argmax(-1).cpu().numpy()

    @torch.no_grad()
    def _update_target(self, tau: float) -> None:
        if tau >= 1.0:
            for t, p in zip(self.q_target.parameters(), self.q.parameters()):
                t.copy_(p)
        else:
            torch._foreach_lerp_(list(self.q_target.parameters()), list(self.q.parameters()), tau)
        for t, b in zip(self.q_target.buffers(), self.q.buffers()):
            t.copy_(b)

    # ------------------------------------------------------------------ 2. the Q-learning update
    def ready(self) -> bool:
        """Training starts once D holds learning_starts transitions (and one batch); a run resumed
        without its replay refills it first."""
        return self.replay.size >= max(self.cfg.learning_starts, self.cfg.batch_size, 1)

    def losses(self, phase: Phase, batch: None) -> Iterator[torch.Tensor]:
        cfg = self.cfg
        if not self.ready():
            return
        beta = self.beta() if cfg.prioritized else 1.0
        for _ in range(self.gradient_steps):
            s = self.replay.sample(cfg.batch_size, self.rng, beta)
            obs, next_obs = self._tensor(s.obs), self._tensor(s.next_obs)
            actions = torch.from_numpy(s.actions.astype(np.int64)).to(self.device)
            G, discount = self._tensor(s.returns), self._tensor(s.discounts)
            with torch.no_grad():
                q_next = self.q_target(next_obs).float()
                if cfg.double_q:   # choose a' with theta, value it with theta^-
                    a_next = self.q(next_obs).argmax(-1, keepdim=True)
                    v_next = q_next.gather(-1, a_next).squeeze(-1)
                else:
                    v_next = q_next.max(-1).values
                y = G + discount * v_next
            q = self.q(obs).float().gather(-1, actions.unsqueeze(-1)).squeeze(-1)
            td = y - q
            # Huber is 0.5 td^2 for |td| < 1 and linear beyond: gradients clipped to [-1, 1] (Mnih et al.)
            per_sample = F.smooth_l1_loss(q, y, reduction="none") if cfg.loss == "huber" else 0.5 * td ** 2
            if cfg.prioritized:
                loss = (self._tensor(s.weights) * per_sample).mean()
                # note: a CPU-GPU sync point per step on a GPU; the next sample needs the new priorities
                self.replay.update_priorities(s.indices, td.detach().abs().cpu().numpy())
            else:
                loss = per_sample.mean()
            self.stats.add("q", torch.stack([loss.detach(), q.detach().mean()]))
            self.updates += 1
            yield loss

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).to(self.device, non_blocking=True)

    # ------------------------------------------------------------------ acting, eval
    @torch.no_grad()
    def act(self, obs: np.ndarray, first: np.ndarray | None = None, deterministic: bool = True) -> np.ndarray:
        """Greedy actions (or epsilon-greedy with the current epsilon) for a batch of observations
        (`first`, where an episode starts, matters to recurrent policies only)."""
        eps = 0.0 if deterministic else self.epsilon()
        return self._epsilon_greedy(np.asarray(obs), eps) + self.action_start

    def actor(self, deterministic: bool = True) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
        """A policy for watching, `act(obs, first) -> actions` (lab.watch)."""
        return lambda obs, first=None: self.act(obs, first, deterministic)

    def evaluate(self, source: Any) -> Evaluation:
        # eval_epsilon > 0 draws from its own fixed-seed RNG: evaluation leaves training untouched
        rng = np.random.default_rng(0)
        act = lambda obs, first: self._epsilon_greedy(np.asarray(obs), self.cfg.eval_epsilon, rng) + self.action_start
        return source.evaluate(act)  # the mean return over env.eval_episodes

    def log_metrics(self) -> dict[str, float]:
        metrics = self.stats.pop_vector("q", ("loss/td", "loss/q_mean"))
        metrics["train/epsilon"] = self.epsilon() if self.env_steps >= self.cfg.learning_starts else 1.0
        metrics["train/replay_size"] = self.replay.size
        if self.cfg.prioritized:
            metrics["train/per_beta"] = self.beta()
        return metrics

    def status(self) -> str:
        return f"eps {self.epsilon():.2f}"

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self, replay: bool = True) -> dict[str, Any]:
        return {"q": self.q.state_dict(), "q_target": self.q_target.state_dict(), "stats": self.stats.state_dict(),
                "rng": generator_state(self.rng), "env_steps": self.env_steps, "updates": self.updates,
                "replay": self.replay.state_dict() if self.cfg.save_replay and replay else None}

    def inference_state_dict(self) -> dict[str, Any]:
        """What best.pt needs: everything but the replay buffer (which can be gigabytes)."""
        return self.state_dict(replay=False)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.stats.load_state_dict(state["stats"])
        set_generator_state(self.rng, state["rng"])
        self.env_steps, self.updates = int(state["env_steps"]), int(state["updates"])
        if state.get("replay") is not None:
            self.replay.load_state_dict(state["replay"])


CONFIG = DQNConfig  # this learner's config schema (conf/agent/dqn.yaml)


def build(source: Any, cfg: DQNConfig, device: torch.device, seeds: Seeds) -> DQN:
    """The learner for `agent=dqn`, from its env source's spaces and env count (called by lab/run.py)."""
    return DQN(source.single_observation_space, source.single_action_space, source.num_envs, cfg, device, seeds)
