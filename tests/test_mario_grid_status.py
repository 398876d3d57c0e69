"""The opt-in status row of the Mario grid observation (`grid_status=True`, issue 15): a 17th row
with what the 16x16 tile view hides (position within the cell, speed, ground, A held, big,
invulnerable); off by default, the tiles above it unchanged, and PPO trains on it."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs.mario
from envs.mario.batch import STATUS_CELLS, STATUS_HIGH
from envs.mario.env import MarioEnv
from envs.mario.vector import MarioVectorEnv

envs.mario.register()
CELL = {name: k for k, name in enumerate(STATUS_CELLS)}


def test_default_grid_is_unchanged():
    env = MarioVectorEnv(num_envs=2, level="intro", obs="grid")
    assert env.single_observation_space.shape == (16, 16) and env.single_observation_space.high.max() == 12


def test_status_row_adds_a_row_and_leaves_the_tiles_as_they_were():
    plain = MarioVectorEnv(num_envs=3, level="enemies", obs="grid", sticky_actions=0.25)
    status = MarioVectorEnv(num_envs=3, level="enemies", obs="grid", sticky_actions=0.25, grid_status=True)
    assert status.single_observation_space.shape == (17, 16)
    a, _ = plain.reset(seed=1)
    b, _ = status.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(200):
        assert np.array_equal(a, b[:, :16]) and status.observation_space.contains(b)
        assert b[:, 16].max() <= STATUS_HIGH and not b[:, 16, len(STATUS_CELLS):].any()
        actions = rng.integers(0, plain.single_action_space.n, size=3)
        a, *_ = plain.step(actions)
        b, *_ = status.step(actions)


def test_status_row_shows_a_held_ground_and_speed():
    env = MarioEnv(level="intro", obs="grid", actions="right_only", grid_status=True)
    env.reset(seed=0)
    obs, *_ = env.step(0)  # NOOP: standing on the ground (the reset's frame has not touched it yet)
    row = obs[16]
    assert row[CELL["ground"]] == 1 and row[CELL["a_held"]] == 0 and row[CELL["vx"]] == 4 and row[CELL["vy"]] == 5
    for _ in range(30):  # run (right + B) on the ground up to full speed
        obs, *_ = env.step(3)
    row = obs[16]
    assert row[CELL["a_held"]] == 0 and row[CELL["ground"]] == 1 and row[CELL["vx"]] == 14
    obs, *_ = env.step(4)  # right + A + B: take off, A held, rising
    row = obs[16]
    assert row[CELL["a_held"]] == 1 and row[CELL["ground"]] == 0 and row[CELL["vy"]] < 5


def test_status_row_with_a_frame_stack_and_gymnasium_make():
    env = gym.make("lab/Mario-v0", level="procedural", seed=1, obs="grid", frame_stack=2, grid_status=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, 17, 16) and env.observation_space.contains(obs)
    obs, *_ = env.step(1)
    assert obs.shape == (2, 17, 16)


def test_ppo_trains_with_the_status_row(tmp_path: Path) -> None:
    from lab.api import train

    result = train("agent=ppo", "env=mario", "+env.kwargs.grid_status=true", "env.num_envs=8", "agent.n_steps=16",
                   "agent.batch_size=64", "trainer.total_steps=256", "trainer.eval_every=0", "env.eval_episodes=1",
                   "trainer.video_every=0", "trainer.threads=1", "wandb.mode=disabled", run_dir=tmp_path)
    assert result.status == "completed" and result.steps >= 256


def test_player_view_follows_mario_and_shows_the_camera_view_shifted():
    """grid_view="player": Mario always in column 3, the tiles those of the camera view moved so that
    his column lands there (12 columns ahead instead of the camera's 8 or so); left of the level is solid."""
    from envs.mario.batch import PLAYER_CODE, SOLID_CODE
    from envs.mario.engine import PX, SHIFT

    kw = dict(num_envs=3, level="enemies", obs="grid", sticky_actions=0.25, actions="right_only")
    cam, ego = MarioVectorEnv(**kw), MarioVectorEnv(**kw, grid_view="player")
    a, _ = cam.reset(seed=2)
    b, _ = ego.reset(seed=2)
    rng = np.random.default_rng(0)
    compared = 0
    for t in range(300):
        for i in range(3):
            col = ((int(cam._state["P"][i, PX]) >> SHIFT) + 6) // 16
            cam_c0 = col - int(np.argwhere(a[i] == PLAYER_CODE)[0][1]) if (a[i] == PLAYER_CODE).any() else None
            if cam_c0 is None:
                continue  # off screen (falling into a pit)
            assert (b[i][:, 3] == PLAYER_CODE).any()
            shift = (col - 3) - cam_c0  # ego column j shows level column col - 3 + j
            for j in range(16):
                if 0 <= j + shift < 16 and col - 3 + j >= 0:
                    assert np.array_equal(b[i][:, j], a[i][:, j + shift])
                    compared += 1
                elif col - 3 + j < 0:
                    assert (b[i][:, j] == SOLID_CODE).all()
        actions = rng.integers(1, cam.single_action_space.n, size=3)
        a, *_ = cam.step(actions)
        b, *_ = ego.step(actions)
    assert compared > 5000


def test_unknown_grid_view_is_refused():
    with pytest.raises(ValueError, match="grid_view must be one of camera, player"):
        MarioVectorEnv(num_envs=1, grid_view="ahead")
