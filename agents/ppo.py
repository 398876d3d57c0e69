"""Proximal Policy Optimization (Schulman et al. 2017, arXiv:1707.06347), clipped surrogate.

Read top to bottom in paper order: the policy, the rollout (sampling a_t ~ pi(.|s_t)),
generalised advantage estimation, then K epochs of minibatch updates of

    L = -min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t) + c_v (V(s_t) - R_t)^2 - c_e H[pi(.|s_t)]

with r_t = pi(a_t|s_t) / pi_old(a_t|s_t). Discrete (categorical) and continuous (Gaussian)
actions; MLP, Nature-CNN or tile-grid (learned code embedding + MLP) policies. Actor and critic
are trained in one pass with one optimizer, which halves the per-op overhead that bounds
small-network RL on a CPU.

    python -m lab agent=ppo env=cartpole
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from agents.config import PPOConfig
from agents.networks import (CodeEmbedding, NatureCNN, NumpyMirror, conv_out_sizes, image_layout, is_code_grid,
                             is_image_space, make_adam, mlp)
from agents.normalize import ObsNormalizer, RewardNormalizer
from agents.rollout import RolloutBuffer, gae
from lab.core.learner import Evaluation, Learner, Mean, Phase
from lab.core.rng import Seeds, generator_state, set_generator_state
from lab.core.runtime import require_memory


class ActorCritic(nn.Module):
    """pi(a|s) and V(s). MLP: two separate towers; CNN: a shared encoder with two heads;
    grid: a shared code embedding (categorical tile codes -> vectors) under two MLP towers."""

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: PPOConfig) -> None:
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        n_out = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        image = is_image_space(obs_space)
        # opt-in: on the Mario grid a plain MLP over the codes learned faster per step and ran 3x faster
        self.grid = cfg.policy == "grid"
        self.cnn = not self.grid and (cfg.policy == "cnn" or (cfg.policy == "auto" and image))
        if self.grid:
            if not is_code_grid(obs_space):
                raise ValueError(f"policy=grid needs uint8 grids of a few codes (< 64), not {obs_space}")
            self.encoder = CodeEmbedding(int(np.max(obs_space.high)) + 1, int(np.prod(obs_space.shape)))
            n_in, sizes = self.encoder.out_features, list(cfg.hidden_sizes)
            self.actor = mlp([n_in, *sizes, n_out], cfg.activation, out_gain=0.01, ortho=cfg.ortho_init)
            self.critic = mlp([n_in, *sizes, 1], cfg.activation, out_gain=1.0, ortho=cfg.ortho_init)
        elif self.cnn:
            self.encoder = NatureCNN(obs_space.shape, 512)
            self.actor = mlp([512, n_out], out_gain=0.01)
            self.critic = mlp([512, 1], out_gain=1.0)
        else:
            n_in = int(np.prod(obs_space.shape))
            self.encoder = nn.Flatten()
            sizes = list(cfg.hidden_sizes)
            self.actor = mlp([n_in, *sizes, n_out], cfg.activation, out_gain=0.01, ortho=cfg.ortho_init)
            self.critic = mlp([n_in, *sizes, 1], cfg.activation, out_gain=1.0, ortho=cfg.ortho_init)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((n_out,), float(cfg.log_std_init)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Action logits (discrete) or Gaussian means (continuous), and values."""
        z = self.encoder(obs if self.cnn or self.grid else obs.float())  # acting passes raw uint8 obs too
        return self.actor(z), self.critic(z).squeeze(-1)

    def log_prob_entropy(self, out: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.discrete:
            logp = torch.log_softmax(out.float(), dim=-1)
            entropy = -(logp.exp() * logp).sum(-1)
            return logp.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1), entropy
        std = self.log_std.exp()
        logp = (-0.5 * ((actions - out.float()) / std) ** 2 - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        entropy = (0.5 + 0.5 * math.log(2 * math.pi) + self.log_std).sum().expand(out.shape[0])
        return logp, entropy

    def sample(self, out: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        if self.discrete:
            if deterministic:
                return out.argmax(-1)
            # Gumbel-max: one fused draw, cheaper than building a Categorical each step
            u = torch.rand_like(out, dtype=torch.float32)
            return (out.float() - torch.log(-torch.log(u.clamp_min(1e-20)))).argmax(-1)
        if deterministic:
            return out.float()
        return out.float() + self.log_std.exp() * torch.randn_like(out, dtype=torch.float32)


class PPO(Learner):
    """The PPO learner: one optimisation phase, 'update', of n_epochs x minibatches steps."""

    step_unit = "env steps"

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, num_envs: int, cfg: PPOConfig,
                 device: torch.device, seeds: Seeds) -> None:
        if not isinstance(action_space, (gym.spaces.Discrete, gym.spaces.Box)):
            raise ValueError(f"PPO acts in Discrete or Box action spaces, not {action_space}")
        if not isinstance(obs_space, gym.spaces.Box):
            raise ValueError(f"PPO needs a Box observation space, not {obs_space}")
        self.cfg, self.device, self.num_envs = cfg, device, num_envs
        self.obs_space, self.action_space = obs_space, action_space
        with seeds.init("ppo/init"):  # the networks' initial weights: their own stream of the run seed
            self.policy = ActorCritic(obs_space, action_space, cfg).to(device)
        self.optimizer = make_adam(self.policy.parameters(), cfg.lr, device)
        # uint8 frames and code grids are stored as they come (4x smaller) and never normalised
        self.image_obs = obs_space.dtype == np.uint8 and (is_image_space(obs_space) or self.policy.grid
                                                          or self.policy.cnn)
        self.obs_norm = ObsNormalizer(obs_space.shape, cfg.clip_obs) if cfg.normalize_obs and not self.image_obs else None
        self.rew_norm = RewardNormalizer(num_envs, cfg.gamma) if cfg.normalize_reward else None
        obs_dtype = obs_space.dtype if self.image_obs else np.float32
        self._check_memory(np.dtype(obs_dtype).itemsize)
        self.buffer = RolloutBuffer(cfg.n_steps, num_envs, obs_space.shape, obs_dtype,
                                    () if self.policy.discrete else action_space.shape,
                                    np.int64 if self.policy.discrete else np.float32)
        self.stats = Mean()
        # Acting on a CPU MLP runs in numpy (see NumpyMirror); its sampling RNG (and the minibatch
        # order) is the learner's own stream of the run seed, saved in checkpoints.
        self.rng = seeds.numpy("ppo")
        self.mirror = None
        if not self.policy.cnn and all(NumpyMirror.supports(n) for n in (self.policy.actor, self.policy.critic)):
            self.mirror = (NumpyMirror(self.policy.actor), NumpyMirror(self.policy.critic))

    def _check_memory(self, obs_itemsize: int) -> None:
        """Refuse settings whose rollout or update cannot fit, before allocating them: the rollout is
        held three times at the peak (the buffer, the flattened batch, each epoch's shuffled copy),
        and a CNN keeps every activation of a minibatch for the backward pass."""
        cfg, obs_elems = self.cfg, int(np.prod(self.obs_space.shape))
        rollout = cfg.n_steps * self.num_envs
        obs_bytes = obs_elems * obs_itemsize
        batch = min(cfg.batch_size, rollout)
        per_sample = obs_elems  # the float input
        if self.policy.cnn:
            per_sample += 2 * sum(conv_out_sizes(*image_layout(self.obs_space.shape)[1]))  # conv + ReLU outputs
        params = sum(p.numel() for p in self.policy.parameters())
        require_memory(
            {"rollout batch and its shuffled copy": 2 * rollout * obs_bytes,
             "minibatch activations and gradients": 2 * 4 * batch * per_sample,
             "weights, gradients and Adam moments": 4 * 4 * params},
            self.device, "agent.n_steps, agent.batch_size or the number of envs, or shrink the observations",
            host_parts={"rollout buffer": rollout * (obs_bytes + 32)})

    # ------------------------------------------------------------------ the contract
    def phases(self) -> list[Phase]:
        schedule = (lambda progress: max(1.0 - progress, 0.0)) if self.cfg.anneal_lr else None
        return [Phase("update", self.optimizer, list(self.policy.parameters()), self.cfg.max_grad_norm,
                      lr_schedule=schedule)]

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.policy}

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(obs).to(self.device, non_blocking=True)

    def _env_actions(self, actions: torch.Tensor | np.ndarray) -> np.ndarray:
        a = actions.cpu().numpy() if isinstance(actions, torch.Tensor) else actions
        if not self.policy.discrete:
            # the Gaussian is unbounded; the env gets the clipped action, the loss the raw one
            a = np.clip(a, self.action_space.low, self.action_space.high)
        return a

    # ------------------------------------------------------------------ 1. rollout
    def collect(self, source: Any) -> tuple[dict[str, torch.Tensor], int]:
        """Run the policy for n_steps in every env; return the flattened batch with advantages."""
        buf, cfg = self.buffer, self.cfg
        obs = source.obs
        for t in range(cfg.n_steps):
            obs = self.obs_norm(obs, update=True) if self.obs_norm else obs
            action, logp, value = self._policy_step(obs)
            next_obs, reward, terminated, truncated, valid = source.step(self._env_actions(action))
            if self.rew_norm is not None:
                reward = self.rew_norm(reward, terminated | truncated)
            buf.obs[t] = obs
            buf.actions[t] = action
            buf.logprobs[t] = logp
            buf.values[t] = value
            buf.rewards[t] = reward
            buf.terminated[t] = terminated
            buf.dones[t] = terminated | truncated
            buf.valid[t] = valid
            obs = next_obs
        last_obs = self.obs_norm(obs) if self.obs_norm else obs
        last_value = self._policy_step(last_obs)[2]

        # ---------------------------------------------------------------- 2. GAE
        advantages, returns = gae(buf.rewards, buf.values, last_value, buf.terminated, buf.dones,
                                  cfg.gamma, cfg.gae_lambda)
        v = buf.valid.reshape(-1)  # drop the reset steps of NEXT_STEP autoreset
        flat = lambda x: torch.from_numpy(x.reshape(-1, *x.shape[2:])[v]).to(self.device)
        batch = {"obs": flat(buf.obs), "actions": flat(buf.actions), "logprobs": flat(buf.logprobs),
                 "values": flat(buf.values), "advantages": flat(advantages.astype(np.float32)),
                 "returns": flat(returns.astype(np.float32))}
        return batch, cfg.n_steps * self.num_envs

    def _mirror_input(self, obs: np.ndarray) -> np.ndarray:
        """What the numpy towers take: the grid's code embedding, or the flattened observation."""
        if self.policy.grid:
            return self.policy.encoder.numpy(obs)
        return obs.reshape(len(obs), -1).astype(np.float32, copy=False)

    def _policy_step(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample a_t ~ pi(.|s_t): actions, their log-probabilities and V(s_t), as numpy arrays."""
        if self.mirror is not None and not torch.is_autocast_enabled("cpu"):
            x = self._mirror_input(obs)
            out = self.mirror[0](x)
            value = self.mirror[1](x)[:, 0]
            if self.policy.discrete:
                logp_all = out - out.max(-1, keepdims=True)
                logp_all -= np.log(np.exp(logp_all).sum(-1, keepdims=True))
                action = (logp_all - np.log(-np.log(self.rng.random(out.shape) + 1e-20))).argmax(-1)  # Gumbel-max
                logp = logp_all[np.arange(len(action)), action]
            else:
                log_std = self.policy.log_std.detach().numpy()
                action = out + np.exp(log_std) * self.rng.standard_normal(out.shape, dtype=np.float32)
                logp = (-0.5 * ((action - out) / np.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
            return action, logp, value
        out, value = self.policy(self._obs_tensor(obs))
        action = self.policy.sample(out)
        logp, _ = self.policy.log_prob_entropy(out, action)
        return action.cpu().numpy(), logp.float().cpu().numpy(), value.float().cpu().numpy()

    # ------------------------------------------------------------------ 3. the clipped update
    def losses(self, phase: Phase, batch: dict[str, torch.Tensor]) -> Iterator[torch.Tensor]:
        cfg = self.cfg
        n = batch["obs"].shape[0]
        for _ in range(cfg.n_epochs):
            # one gather per tensor per epoch; minibatches are then cheap contiguous slices
            perm = torch.randperm(n, device=self.device)
            shuffled = {k: v[perm] for k, v in batch.items()}
            for start in range(0, n, cfg.batch_size):
                mb = {k: v[start:start + cfg.batch_size] for k, v in shuffled.items()}
                if mb["obs"].shape[0] < 2:
                    continue
                adv, ret, old_v = mb["advantages"], mb["returns"], mb["values"]
                if cfg.normalize_advantage:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                out, value = self.policy(mb["obs"])
                logp, entropy = self.policy.log_prob_entropy(out, mb["actions"])
                log_ratio = logp - mb["logprobs"]
                ratio = log_ratio.exp()
                pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range)).mean()
                value = value.float()
                if cfg.clip_range_vf is not None:
                    clipped = old_v + (value - old_v).clamp(-cfg.clip_range_vf, cfg.clip_range_vf)
                    v_loss = 0.5 * torch.max((value - ret) ** 2, (clipped - ret) ** 2).mean()
                else:
                    v_loss = 0.5 * ((value - ret) ** 2).mean()
                ent = entropy.mean()
                loss = pg_loss + cfg.vf_coef * v_loss - cfg.ent_coef * ent
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean()  # Schulman's low-variance estimator
                    clip_frac = ((ratio - 1).abs() > cfg.clip_range).float().mean()
                    self.stats.add("update", torch.stack([pg_loss, v_loss, ent, approx_kl, clip_frac]))
                yield loss
                if cfg.target_kl is not None and float(approx_kl) > cfg.target_kl:  # sync point, opt-in
                    return

    # ------------------------------------------------------------------ acting, eval
    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for a batch of raw env observations (normalised with frozen statistics)."""
        obs = self.obs_norm(obs) if self.obs_norm else np.asarray(obs)
        if self.mirror is not None and deterministic and not torch.is_autocast_enabled("cpu"):
            out = self.mirror[0](self._mirror_input(obs))
            return self._env_actions(out.argmax(-1) if self.policy.discrete else out)
        out, _ = self.policy(self._obs_tensor(obs))
        return self._env_actions(self.policy.sample(out, deterministic))

    def evaluate(self, source: Any) -> Evaluation:
        return source.evaluate(self.act)  # the mean return over env.eval_episodes, deterministic policy

    _STAT_NAMES = ("loss/policy", "loss/value", "loss/entropy", "loss/approx_kl", "loss/clip_frac")

    def log_metrics(self) -> dict[str, float]:
        metrics = self.stats.pop_vector("update", self._STAT_NAMES)
        if not self.policy.discrete:
            metrics["train/action_std"] = float(self.policy.log_std.detach().exp().mean())
        return metrics

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "stats": self.stats.state_dict(),
                "rng": generator_state(self.rng),
                "obs_norm": self.obs_norm.rms.state_dict() if self.obs_norm else None,
                "rew_norm": self.rew_norm.state_dict() if self.rew_norm else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.stats.load_state_dict(state["stats"])
        set_generator_state(self.rng, state["rng"])
        if self.obs_norm is not None and state.get("obs_norm") is not None:
            self.obs_norm.rms.load_state_dict(state["obs_norm"])
        if self.rew_norm is not None and state.get("rew_norm") is not None:
            self.rew_norm.load_state_dict(state["rew_norm"])


CONFIG = PPOConfig  # this learner's config schema (conf/agent/ppo.yaml)


def build(source: Any, cfg: PPOConfig, device: torch.device, seeds: Seeds) -> PPO:
    """The learner for `agent=ppo`, from its env source's spaces and env count (called by lab/run.py)."""
    return PPO(source.single_observation_space, source.single_action_space, source.num_envs, cfg, device, seeds)
