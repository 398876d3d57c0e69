"""Behaviour cloning (Pomerleau 1991): supervised learning of pi(a|s) from demonstrations.

Discrete actions: cross-entropy of the demonstrator's action, minus a small entropy bonus (the
`imitation` library's BC loss, ent_weight 1e-3); continuous actions: mean squared error of the
policy's mean. The policy is an MLP over observations scaled by the demos' statistics
(agents/imitation.py's ObsScale, as GAIL's discriminator). Each tick is one minibatch of demo transitions; steps count demo samples. The
evaluation plays the deterministic policy in the env, like every RL learner's.

    python -m lab agent=bc env=cartpole agent.demos=demos/cartpole.npz
"""

from __future__ import annotations

from typing import Any, Iterator

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agents.config import BCConfig
from agents.imitation import ObsScale, demo_tensors
from agents.networks import mlp
from lab.core.learner import Evaluation, Learner, Mean, Phase
from lab.core.rng import Seeds, generator_state, set_generator_state


class Policy(nn.Module):
    """Action logits (discrete) or the action itself (continuous) from the scaled observation."""

    def __init__(self, obs_space: gym.spaces.Box, action_space: gym.Space, cfg: BCConfig) -> None:
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        n_out = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        self.scale = ObsScale(obs_space)
        self.net = mlp([int(np.prod(obs_space.shape)), *cfg.hidden_sizes, n_out], cfg.activation, out_gain=0.01)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.scale(obs))


def bc_loss(out: torch.Tensor, actions: torch.Tensor, discrete: bool, ent_weight: float
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The cloning loss and, for discrete actions, the accuracy of the argmax (else the MSE)."""
    if discrete:
        logp = torch.log_softmax(out.float(), -1)
        nll = F.nll_loss(logp, actions.long())
        entropy = -(logp.exp() * logp).sum(-1).mean()
        return nll - ent_weight * entropy, (out.argmax(-1) == actions).float().mean()
    mse = F.mse_loss(out.float(), actions.float().reshape(out.shape))
    return mse, mse


class BC(Learner):
    step_unit = "demo samples"

    def __init__(self, source: Any, cfg: BCConfig, device: torch.device, seeds: Seeds) -> None:
        obs_space, self.action_space = source.single_observation_space, source.single_action_space
        if not isinstance(obs_space, gym.spaces.Box):
            raise ValueError(f"BC needs a Box observation space, not {obs_space}")
        if not isinstance(self.action_space, (gym.spaces.Discrete, gym.spaces.Box)):
            raise ValueError(f"BC acts in Discrete or Box action spaces, not {self.action_space}")
        self.cfg, self.device = cfg, device
        with seeds.init("bc/init"):
            self.policy = Policy(obs_space, self.action_space, cfg).to(device)
        self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.rng = seeds.numpy("bc")  # minibatch sampling
        self.stats = Mean()
        self.demos = demo_tensors(source, cfg.demo_episodes, self.policy.scale, ("obs", "actions"), device)

    def phases(self) -> list[Phase]:
        return [Phase("update", self.optimizer, list(self.policy.parameters()), self.cfg.max_grad_norm)]

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.policy}

    def collect(self, source: Any) -> tuple[dict[str, torch.Tensor], int]:
        if self.demos is None:
            raise ValueError("agent=bc has no demonstrations to learn from (agent.demos)")
        idx = torch.from_numpy(self.rng.integers(len(self.demos["actions"]), size=self.cfg.batch_size)).to(self.device)
        return {k: v[idx] for k, v in self.demos.items()}, self.cfg.batch_size

    def losses(self, phase: Phase, batch: dict[str, torch.Tensor]) -> Iterator[torch.Tensor]:
        loss, score = bc_loss(self.policy(batch["obs"]), batch["actions"], self.policy.discrete, self.cfg.ent_weight)
        with torch.no_grad():
            self.stats.add("bc", torch.stack([loss.detach(), score.detach()]))
        yield loss

    @torch.no_grad()
    def act(self, obs: np.ndarray, first: np.ndarray | None = None, deterministic: bool = True) -> np.ndarray:
        out = self.policy(torch.as_tensor(np.asarray(obs), device=self.device)).float()
        if self.policy.discrete:
            if deterministic:
                return out.argmax(-1).cpu().numpy()
            return torch.distributions.Categorical(logits=out).sample().cpu().numpy()
        return np.clip(out.cpu().numpy(), self.action_space.low, self.action_space.high)

    def actor(self, deterministic: bool = True) -> Any:
        return lambda obs, first=None: self.act(obs, first, deterministic)

    def evaluate(self, source: Any) -> Evaluation:
        return source.evaluate(self.actor())

    def log_metrics(self) -> dict[str, float]:
        names = ("loss/bc", "train/action_accuracy") if self.policy.discrete else ("loss/bc", "train/action_mse")
        return self.stats.pop_vector("bc", names)

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "stats": self.stats.state_dict(), "rng": generator_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.stats.load_state_dict(state["stats"])
        set_generator_state(self.rng, state["rng"])


CONFIG = BCConfig  # this learner's config schema (conf/agent/bc.yaml)


def build(source: Any, cfg: BCConfig, device: torch.device, seeds: Seeds) -> BC:
    """The learner for `agent=bc`: a policy on the source's spaces, the demos from `source.demos`."""
    return BC(source, cfg, device, seeds)
