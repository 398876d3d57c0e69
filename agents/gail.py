"""Generative Adversarial Imitation Learning (Ho & Ermon 2016, arXiv:1606.03476).

A discriminator D learns to tell the demonstrator's transitions from the policy's, and the
policy (PPO, agents/ppo.py, every PPO key applies) learns to fool it; the env's reward is never
used to learn (it is still logged, and evaluation reports it). With D(x) = sigmoid(logit(x)) the
probability that x came from the demonstrator:

    L_D = -E_expert[log D(x)] - E_policy[log(1 - D(x))]       (+ lambda E[(|grad D(x_hat)| - 1)^2])
    r(x) = -log(1 - D(x)) = softplus(logit(x))                 reward=gail
    r(x) =  log D(x) - log(1 - D(x)) = logit(x)                reward=airl (Fu et al. 2018)

x is (s, a) (disc_input=sa), s alone, or (s, s') (ss: state-only, as AIRL's shaping term, which
transfers to other dynamics). Each tick: a PPO rollout; the discriminator phase (disc_steps
Adam steps on minibatches of expert and rollout transitions); then the policy phase relabels
the rollout's rewards with the updated D and runs PPO's update on them (the order of the
`imitation` library's GAIL). Observations reach D scaled by the demos' statistics.

    python -m lab.demos runs/<expert run> --episodes 10 --out demos/cartpole.npz
    python -m lab agent=gail env=cartpole agent.demos=demos/cartpole.npz
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.config import GAILConfig, PPOConfig
from agents.imitation import ObsScale, demo_tensors
from agents.networks import make_adam, mlp
from agents.normalize import RewardNormalizer
from agents.ppo import PPO
from lab.core.learner import Evaluation, Learner, Mean, Phase
from lab.core.rng import Seeds, generator_state, set_generator_state


# ---------------------------------------------------------------------- the two formulas
def discriminator_loss(logit_expert: torch.Tensor, logit_policy: torch.Tensor) -> torch.Tensor:
    """-mean log D(expert) - mean log(1 - D(policy)), from logits (numerically stable)."""
    return (F.binary_cross_entropy_with_logits(logit_expert, torch.ones_like(logit_expert))
            + F.binary_cross_entropy_with_logits(logit_policy, torch.zeros_like(logit_policy)))


def imitation_reward(logits: torch.Tensor, kind: str = "gail") -> torch.Tensor:
    """The policy's reward from D's logits: gail -log(1 - D) = softplus(logit); airl the logit."""
    return F.softplus(logits) if kind == "gail" else logits


# ---------------------------------------------------------------------- the discriminator
class Discriminator(nn.Module):
    """logit D(x) for x = (s, a), s, or (s, s'); discrete actions enter one-hot."""

    def __init__(self, obs_space: gym.spaces.Box, action_space: gym.Space, cfg: GAILConfig) -> None:
        super().__init__()
        self.kind = cfg.disc_input
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        self.n_actions = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        self.scale = ObsScale(obs_space)
        obs_dim = int(np.prod(obs_space.shape))
        n_in = {"sa": obs_dim + self.n_actions, "s": obs_dim, "ss": 2 * obs_dim}[self.kind]
        self.net = mlp([n_in, *cfg.disc_hidden, 1], "tanh", out_gain=1.0)

    def inputs(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        s = self.scale(obs)
        if self.kind == "s":
            return s
        if self.kind == "ss":
            return torch.cat([s, self.scale(next_obs)], -1)
        a = (F.one_hot(actions.long(), self.n_actions).float() if self.discrete
             else actions.reshape(len(actions), -1).float())
        return torch.cat([s, a], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


# ---------------------------------------------------------------------- the learner
class GAIL(Learner):
    """Two phases per tick: 'discriminator', then PPO's 'update' on D's rewards."""

    step_unit = "env steps"

    def __init__(self, source: Any, cfg: GAILConfig, device: torch.device, seeds: Seeds) -> None:
        self.cfg, self.device = cfg, device
        obs_space, action_space = source.single_observation_space, source.single_action_space
        if not isinstance(obs_space, gym.spaces.Box):
            raise ValueError(f"GAIL needs a Box observation space, not {obs_space}")
        # the policy: PPO on the discriminator's reward (normalised here, not on the env's reward)
        ppo_keys = {f.name for f in dataclasses.fields(PPOConfig)}
        ppo_cfg = PPOConfig(**{**{k: v for k, v in dataclasses.asdict(cfg).items() if k in ppo_keys},
                               "learner": "agents.gail", "name": cfg.name, "normalize_reward": False})
        self.ppo = PPO(obs_space, action_space, source.num_envs, ppo_cfg, device, seeds)
        if self.ppo.obs_norm is not None:  # D judges raw observations, as the demos hold them
            self.ppo.buffer.raw_obs = np.zeros(self.ppo.buffer.obs.shape, obs_space.dtype)
        self.rew_norm = RewardNormalizer(source.num_envs, cfg.gamma) if cfg.normalize_reward else None
        with seeds.init("gail/init"):
            self.disc = Discriminator(obs_space, action_space, cfg).to(device)
        self.disc_optimizer = make_adam(self.disc.parameters(), cfg.disc_lr, device)
        self.rng = seeds.numpy("gail")  # which expert and policy transitions each D step sees
        self.stats = Mean()
        self.expert = demo_tensors(source, cfg.demo_episodes, self.disc.scale, ("obs", "actions", "next_obs"), device)

    # ------------------------------------------------------------------ the contract
    def phases(self) -> list[Phase]:
        return [Phase("discriminator", self.disc_optimizer, list(self.disc.parameters())), *self.ppo.phases()]

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.ppo.policy, "discriminator": self.disc}

    def collect(self, source: Any) -> tuple[dict[str, Any], int]:
        """A PPO rollout; its transitions (s, a, s') are what D calls the policy's."""
        if self.expert is None:
            raise ValueError("agent=gail has no demonstrations to learn from (agent.demos)")
        rollout = self.ppo.rollout(source)
        buf = self.ppo.buffer
        obs = buf.raw_obs if buf.raw_obs is not None else buf.obs
        next_obs = np.concatenate([obs[1:], buf.last_obs[None].astype(obs.dtype)])
        valid = torch.from_numpy(buf.valid.reshape(-1)).to(self.device)
        flat = lambda x: torch.from_numpy(np.ascontiguousarray(x.reshape(-1, *x.shape[2:]))).to(self.device)
        transitions = {"obs": flat(obs), "actions": flat(buf.actions), "next_obs": flat(next_obs)}
        batch = {"rollout": rollout, "all": transitions, "policy": {k: v[valid] for k, v in transitions.items()}}
        return batch, self.cfg.n_steps * self.ppo.num_envs

    def losses(self, phase: Phase, batch: dict[str, Any]) -> Iterator[torch.Tensor]:
        if phase.name == "discriminator":
            yield from self._discriminator_losses(batch)
            return
        if "ppo" not in batch:  # the policy phase, after D's: rewards from the updated D
            batch["ppo"] = self._relabelled(batch)
        yield from self.ppo.losses(phase, batch["ppo"])

    def _discriminator_losses(self, batch: dict[str, Any]) -> Iterator[torch.Tensor]:
        cfg, expert, policy = self.cfg, self.expert, batch["policy"]
        n_e, n_p = len(expert["actions"]), len(policy["actions"])
        for _ in range(cfg.disc_steps):
            i_e = torch.from_numpy(self.rng.integers(n_e, size=cfg.disc_batch_size)).to(self.device)
            i_p = torch.from_numpy(self.rng.integers(n_p, size=cfg.disc_batch_size)).to(self.device)
            x_e = self.disc.inputs(*(expert[k][i_e] for k in ("obs", "actions", "next_obs")))
            x_p = self.disc.inputs(*(policy[k][i_p] for k in ("obs", "actions", "next_obs")))
            logit_e, logit_p = self.disc(x_e), self.disc(x_p)
            loss = discriminator_loss(logit_e, logit_p)
            if cfg.disc_grad_penalty > 0:
                eps = torch.rand(len(x_e), 1, device=self.device)
                x_hat = (eps * x_e + (1 - eps) * x_p).requires_grad_(True)
                grad, = torch.autograd.grad(self.disc(x_hat).sum(), x_hat, create_graph=True)
                loss = loss + cfg.disc_grad_penalty * ((grad.norm(dim=-1) - 1) ** 2).mean()
            with torch.no_grad():
                self.stats.add("disc", torch.stack([loss.detach(), (logit_e > 0).float().mean(),
                                                    (logit_p < 0).float().mean()]))
            yield loss

    @torch.no_grad()
    def _relabelled(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The rollout's rewards replaced by D's (0 on reset steps), then PPO's GAE batch."""
        buf, t = self.ppo.buffer, batch["all"]
        reward = imitation_reward(self.disc(self.disc.inputs(t["obs"], t["actions"], t["next_obs"])).float(),
                                  self.cfg.reward)
        reward = reward.cpu().numpy().reshape(buf.rewards.shape) * buf.valid
        self.stats.add("reward", float(reward.sum() / max(buf.valid.sum(), 1)))
        if self.rew_norm is not None:
            for step in range(len(reward)):  # as PPO normalises the env's reward, step by step
                reward[step] = self.rew_norm(reward[step], buf.dones[step].astype(bool))
        buf.rewards[:] = reward
        return self.ppo.advantages(batch["rollout"])

    # ------------------------------------------------------------------ acting, eval, logs
    def act(self, obs: np.ndarray, first: np.ndarray | None = None, deterministic: bool = True) -> np.ndarray:
        return self.ppo.act(obs, first, deterministic)

    def actor(self, deterministic: bool = True) -> Any:
        return self.ppo.actor(deterministic)

    def evaluate(self, source: Any) -> Evaluation:
        return self.ppo.evaluate(source)  # the env's return: what the imitation achieves

    def log_metrics(self) -> dict[str, float]:
        metrics = self.ppo.log_metrics()
        metrics.update(self.stats.pop_vector("disc", ("loss/discriminator", "train/disc_acc_expert",
                                                      "train/disc_acc_policy")))
        metrics.update({f"train/disc_{k}": v for k, v in self.stats.pop().items()})  # the mean D reward
        return metrics

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"ppo": self.ppo.state_dict(), "disc": self.disc.state_dict(), "stats": self.stats.state_dict(),
                "rng": generator_state(self.rng), "rew_norm": self.rew_norm.state_dict() if self.rew_norm else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ppo.load_state_dict(state["ppo"])
        self.disc.load_state_dict(state["disc"])
        self.stats.load_state_dict(state["stats"])
        set_generator_state(self.rng, state["rng"])
        if self.rew_norm is not None and state.get("rew_norm") is not None:
            self.rew_norm.load_state_dict(state["rew_norm"])


CONFIG = GAILConfig  # this learner's config schema (conf/agent/gail.yaml)


def build(source: Any, cfg: GAILConfig, device: torch.device, seeds: Seeds) -> GAIL:
    """The learner for `agent=gail`: PPO on the source's spaces plus D, the demos from `source.demos`."""
    return GAIL(source, cfg, device, seeds)
