"""DQN on the built-in Mario-like game: the dqn_mario preset composes, the greedy numpy acting path
matches the Q-network on stacked grids, a smoke run, and (slow) clearing the intro level."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from conftest import compose, train
from lab.core.rng import Seeds

SMALL = ["agent=dqn", "env=mario", "env.num_envs=8", "agent.learning_starts=1024", "agent.batch_size=32",
         "agent.buffer_size=4096", "agent.gradient_steps=2", "trainer.total_steps=4096", "trainer.eval_every=2048",
         "env.eval_episodes=2", "trainer.checkpoint_every=0", "trainer.log_every=0", "env.time_limit=20"]


def test_dqn_mario_preset_composes() -> None:
    from lab.config import validate

    cfg = compose(["agent=dqn", "env=mario"])
    assert validate(cfg) is None
    assert (cfg.env.actions, cfg.env.time_limit, cfg.env.frame_stack) == ("right_only", 150, 2)
    assert cfg.agent.policy == "auto" and cfg.agent.gamma == 0.9 and cfg.agent.n_step == 3
    assert cfg.agent.double_q and cfg.agent.dueling
    assert cfg.agent.schedule_steps == cfg.trainer.total_steps


def test_dqn_greedy_numpy_path_matches_the_q_network() -> None:
    from agents.config import DQNConfig
    from agents.dqn import DQN

    space = gym.spaces.Box(0, 11, (2, 16, 16), np.uint8)
    cfg = DQNConfig(policy="auto", hidden_sizes=[32, 32], dueling=True, schedule_steps=1000)  # a code grid: MLP
    dqn = DQN(space, gym.spaces.Discrete(5), 4, cfg, torch.device("cpu"), Seeds(0))
    assert dqn.mirror is not None and not dqn.q.cnn
    obs = np.random.default_rng(0).integers(0, 12, (64, 2, 16, 16), dtype=np.uint8)
    with torch.no_grad():
        q = dqn.q(torch.from_numpy(obs))
    np.testing.assert_array_equal(dqn.act(obs), q.argmax(-1).numpy())


def test_dqn_trains_on_mario(tmp_path: Path) -> None:
    result = train(SMALL, tmp_path / "run")
    assert result["completed"] and result["steps"] == 4096
    assert np.isfinite(result["final"]["return_mean"])
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()
