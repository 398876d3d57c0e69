"""Every observation setting the Mario-like game offers trains with PPO and DQN (a few ticks each):
tile grids and pixel frames, RGB or grayscale, any resolution, any frame stack, channel-last RGB
included; and settings that cannot fit in memory are refused in one line before anything is
allocated. The CNN reads each layout the envs hand over (agents.networks.image_layout)."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import cli, train

from agents.networks import NatureCNN, image_layout, is_image_space

# A handful of ticks: 4 envs, a 10-unit timer; the point is that each setting builds and updates.
TINY = ["env=mario", "env.num_envs=4", "env.time_limit=10", "trainer.eval_every=0", "env.eval_episodes=1",
        "trainer.checkpoint_every=0", "trainer.log_every=0", "trainer.video_every=0"]
PPO = ["agent=ppo", "agent.n_steps=8", "agent.batch_size=16", "agent.n_epochs=1", "trainer.total_steps=64"]
DQN = ["agent=dqn", "agent.buffer_size=256", "agent.learning_starts=32", "agent.batch_size=8",
       "agent.gradient_steps=1", "agent.train_freq=2", "trainer.total_steps=64"]

SETTINGS = {
    "grid": ["env.obs=grid", "env.frame_stack=1"],
    "grid_stack2": ["env.obs=grid", "env.frame_stack=2"],
    "rgb_full": ["env.obs=pixels"],                                                # (240, 256, 3)
    "gray_160": ["env.obs=pixels", "env.grayscale=true", "env.resolution=160"],    # (160, 160)
    "rgb_84_stack4": ["env.obs=pixels", "env.resolution=84", "env.frame_stack=4"],   # (4, 84, 84, 3)
    "gray_84_stack4": ["env.obs=pixels", "env.grayscale=true", "env.resolution=84", "env.frame_stack=4"],
    "rgb_20_stack3": ["env.obs=pixels", "env.resolution=20", "env.frame_stack=3"],   # below the Nature CNN's 36
    "gray_7": ["env.obs=pixels", "env.grayscale=true", "env.resolution=7"],
}
# The grids keep the presets' MLP; every pixel setting must get the CNN.
EXPECT_CNN = {name: name not in ("grid", "grid_stack2") for name in SETTINGS}


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_every_observation_setting_trains(agent: str, setting: str, tmp_path: Path, monkeypatch) -> None:
    import lab.run

    built = {}
    build = lab.run.build_learner

    def spy(cfg, source, device):
        built["learner"] = build(cfg, source, device)
        return built["learner"]

    monkeypatch.setattr(lab.run, "build_learner", spy)
    result = train([*(PPO if agent == "ppo" else DQN), *TINY, *SETTINGS[setting]], tmp_path / "run")
    assert result["completed"] and result["steps"] >= 64, result
    assert np.isfinite(result["final"]["return_mean"])
    learner = built["learner"]
    assert (learner.policy.cnn if agent == "ppo" else learner.q.cnn) == EXPECT_CNN[setting]


@pytest.mark.parametrize("shape,layout,chw", [
    ((240, 256), "hw", (1, 240, 256)),
    ((240, 256, 3), "hwc", (3, 240, 256)),
    ((4, 84, 84), "chw", (4, 84, 84)),
    ((4, 84, 84, 3), "khwc", (12, 84, 84)),
    ((3, 84, 84), "chw", (3, 84, 84)),
])
def test_image_layouts(shape, layout, chw) -> None:
    assert image_layout(shape) == (layout, chw)
    net = NatureCNN(shape, 16)
    x = torch.randint(0, 256, (2, *shape), dtype=torch.uint8)
    assert net(x).shape == (2, 16)


def test_channel_last_frames_reach_the_cnn_channel_first() -> None:
    """The same picture as (H, W, C) and as (C, H, W) gives the same features."""
    torch.manual_seed(0)
    last, first = NatureCNN((40, 48, 3), 8), NatureCNN((3, 40, 48), 8)
    first.load_state_dict(last.state_dict())
    x = torch.randint(0, 256, (2, 40, 48, 3), dtype=torch.uint8)
    torch.testing.assert_close(last(x), first(x.permute(0, 3, 1, 2).contiguous()))


def test_code_grids_are_not_pixels() -> None:
    assert not is_image_space(gym.spaces.Box(0, 11, (2, 16, 16), np.uint8))
    assert is_image_space(gym.spaces.Box(0, 255, (84, 84), np.uint8))
    assert is_image_space(gym.spaces.Box(0, 255, (4, 84, 84, 3), np.uint8))
    assert not is_image_space(gym.spaces.Box(-1, 1, (4, 84, 84), np.float32))


def test_what_cannot_fit_is_refused_in_one_line(tmp_path: Path) -> None:
    """A rollout far beyond any machine's memory (terabytes): one line with the amount and the keys,
    exit 2, before the buffer is allocated (no MemoryError traceback), no checkpoint written."""
    out = cli(["agent=ppo", "env=mario", "env.obs=pixels", "env.frame_stack=4", "agent.n_steps=100000",
               "wandb.mode=disabled", f"hydra.run.dir={tmp_path / 'run'}"])
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    line = lines[0]
    assert line.startswith("lab: error: agent=ppo on lab/Mario-v0 needs about ") and "GiB is free" in line
    assert "rollout buffer" in line and "agent.n_steps" in line and "env.resolution" in line, line
    assert "Traceback" not in out.stderr and "MemoryError" not in out.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_dqn_replay_that_cannot_fit_is_refused(tmp_path: Path) -> None:
    """DQN on the game's stacked RGB frames with a 100M-transition replay: refused with the replay's
    size, the keys that lower it, and the hint to store each stacked frame once."""
    from lab.core.errors import LabError

    with pytest.raises(LabError) as err:
        train(["agent=dqn", "env=mario", "env.obs=pixels", "env.frame_stack=2", "agent.buffer_size=100000000"],
              tmp_path / "run")
    line = str(err.value)
    assert "\n" not in line and line.startswith("agent=dqn on lab/Mario-v0 needs about ")
    assert "replay memory" in line and "agent.buffer_size" in line and "agent.frame_stack=2" in line, line
    assert "env.grayscale=true" in line
