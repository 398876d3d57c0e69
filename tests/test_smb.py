"""env=smb, the real NES Super Mario Bros (envs/smb.py).

The NES packages pin numpy<2 and the legacy gym, so they live in an environment of their own
(.venv-smb, built by .ci/run as the README says: torch, then the lab with its `smb` extra). There
these tests check the adapter (Gymnasium's env checker, the split of the SMB env's `done`, frame
skip, NEXT_STEP autoreset, observations shaped like the lab game's, info keys and action sets) and
train PPO and DQN on the NES game end to end through `python -m lab`, on its full-size channel-last
RGB frames and on stacked 84x84 grayscale. In the main environment they are skipped but for one:
`python -m lab agent=ppo env=smb` fails with one line that says how to install the extra.

    .venv-smb/bin/python -m pytest tests/test_smb.py      # PYTHONPATH=. where the lab is not installed
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs import smb

RIGHT, NOOP = 1, 0  # action indices in every action set


@pytest.fixture(autouse=True)
def _nes_game(request):
    """Every test but the missing-extra one needs the NES game."""
    if request.node.name != "test_missing_extra_is_one_clear_line":
        pytest.importorskip("gym_super_mario_bros", reason="env=smb needs the `smb` extra in its own environment")


def test_missing_extra_is_one_clear_line(tmp_path):
    if smb.available():
        pytest.skip("the smb extra is installed here")
    from conftest import cli

    out = cli(["agent=ppo", "env=smb", "wandb.mode=disabled", f"hydra.run.dir={tmp_path}"], timeout=120)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "`smb` extra" in lines[0] and "its own environment" in lines[0] and "pip install -e '.[smb]'" in lines[0]
    assert "Traceback" not in out.stderr + out.stdout


def test_env_checker():
    from gymnasium.utils.env_checker import check_env

    env = gym.make("lab/SMB-v0", grayscale=True, resolution=84, frame_stack=4, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports problems as warnings
        check_env(env.unwrapped, skip_render_check=False)
    env.close()


# Without numba (as in the smb environment) the lab game runs as plain Python, where its uint64 hash wraps.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_observations_match_the_lab_game():
    """Same settings, same observation space and the same kind of array as lab/Mario-v0's pixels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba may be absent here: the lab game then runs as plain Python
        from envs.mario.vector import MarioVectorEnv

    for kw in [dict(), dict(grayscale=True), dict(resolution=84), dict(grayscale=True, resolution=84, frame_stack=4),
               dict(resolution=(60, 64), frame_stack=2)]:
        lab = MarioVectorEnv(num_envs=1, obs="pixels", **kw)
        env = smb.SMBEnv(obs="pixels", **kw)
        assert env.observation_space == lab.single_observation_space, kw
        obs, _ = env.reset(seed=0)
        lab_obs, _ = lab.reset(seed=0)
        assert obs.shape == lab_obs.shape[1:] and obs.dtype == lab_obs.dtype == np.uint8, kw
        assert env.observation_space.contains(obs)
        obs, *_ = env.step(RIGHT)
        assert env.observation_space.contains(obs)
        env.close()


def test_pixel_pipeline():
    """Nearest-neighbour resampling and luma as the lab game's renderer; stacks repeat the first frame."""
    env = smb.SMBEnv(frame_skip=1, render_mode="rgb_array")
    small = smb.SMBEnv(frame_skip=1, grayscale=True, resolution=84, frame_stack=3)
    env.reset(seed=0)
    obs, _ = small.reset(seed=0)
    full = env.render()
    assert full.shape == (240, 256, 3) and full.dtype == np.uint8
    rows, cols = np.arange(84) * 240 // 84, np.arange(84) * 256 // 84
    expected = smb.to_gray(full[rows][:, cols])
    assert all(np.array_equal(obs[k], expected) for k in range(3))
    env.step(RIGHT)
    obs, *_ = small.step(RIGHT)
    assert np.array_equal(obs[-1], smb.to_gray(env.render()[rows][:, cols])) and np.array_equal(obs[0], expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from envs.mario.render import to_gray as lab_to_gray
    assert np.array_equal(smb.to_gray(full), lab_to_gray(full)[..., 0])
    env.close(), small.close()


def test_frame_skip_sums_rewards_and_max_pools_the_last_two_frames():
    skip, one = smb.SMBEnv(frame_skip=4, actions="right_only"), smb.SMBEnv(frame_skip=1, actions="right_only")
    skip.reset(seed=0)
    one.reset(seed=0)
    for _ in range(5):  # the emulator is deterministic: 4 single frames == one skipped step
        obs, reward, *_ = skip.step(RIGHT)
        frames, total = [], 0.0
        for _ in range(4):
            frame, r, *_ = one.step(RIGHT)
            frames.append(frame)
            total += r
        assert reward == total
        assert np.array_equal(obs, np.maximum(frames[-2], frames[-1]))
    assert skip.metadata["render_fps"] == 15
    skip.close(), one.close()


def test_death_terminates_and_time_up_truncates():
    env = smb.SMBEnv(actions="right_only")
    env.reset(seed=0)
    for _ in range(200):  # walking right into 1-1's first goomba
        _, _, terminated, truncated, info = env.step(RIGHT)
        if terminated or truncated:
            break
    assert terminated and not truncated and not info["flag_get"] and info["time"] > 0
    with pytest.raises(RuntimeError, match="reset"):
        env.step(RIGHT)
    env.reset()
    env.unwrapped._raw.ram[0x07F8:0x07FB] = [0, 0, 2]  # the clock's three BCD digits: 2 left
    for _ in range(100):
        _, _, terminated, truncated, info = env.step(NOOP)
        if terminated or truncated:
            break
    assert truncated and not terminated and info["time"] == 0
    env.close()


def test_vector_env_next_step_autoreset_and_info():
    venv = envs.make_vec("lab/SMB-v0", 2, kwargs=dict(actions="right_only", grayscale=True, resolution=84))
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, info = venv.reset(seed=0)
    assert obs.shape == (2, 84, 84) and obs.dtype == np.uint8
    first = obs[1].copy()
    for key in smb.INFO_KEYS:
        assert key in info and info["_" + key].all(), key
    assert info["flag_get"].dtype == np.bool_ and info["x_pos"].dtype == np.int64
    actions = np.array([NOOP, RIGHT])  # sub-env 1 walks into the goomba, sub-env 0 waits
    for _ in range(200):
        obs, reward, terminated, truncated, info = venv.step(actions)
        if terminated[1]:
            break
    assert terminated[1] and not terminated[0] and not truncated.any()
    assert info["x_pos"][1] > 40 and info["world"][1] == 1 and info["stage"][1] == 1 and info["status"][1] == "small"
    obs, reward, terminated, truncated, info = venv.step(actions)  # the reset step of sub-env 1
    assert reward[1] == 0 and not terminated[1] and not truncated[1]
    assert np.array_equal(obs[1], first) and info["x_pos"][1] == 40 and info["time"][1] == 400
    venv.close()


def test_action_sets_are_the_lab_games():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from envs.mario.actions import ACTION_SETS, BUTTONS
    assert smb.action_sets() == ACTION_SETS
    from nes_py.wrappers import JoypadSpace

    assert set(JoypadSpace.buttons()) == set(BUTTONS)
    for name, actions in ACTION_SETS.items():
        env = smb.SMBEnv(actions=name)
        assert env.action_space.n == len(actions) and env._joypad.get_action_meanings()[1] == "right"
        env.close()
    custom = smb.SMBEnv(actions=[["NOOP"], ["right", "B"]])
    assert custom.action_space.n == 2
    custom.close()
    with pytest.raises(ValueError, match="unknown button 'jump'"):
        smb.SMBEnv(actions=[["jump"]])
    with pytest.raises(ValueError, match="unknown action set"):
        smb.SMBEnv(actions="everything")


def test_bad_settings_are_one_line():
    with pytest.raises(envs.EnvError, match="unknown gym-super-mario-bros game .*did you mean SuperMarioBros-1-1-v"):
        smb.SMBEnv(game="SuperMarioBros-1-1-v9")
    with pytest.raises(ValueError, match="pixels only"):
        smb.SMBEnv(obs="grid")
    with pytest.raises(ValueError, match="resolution"):
        smb.SMBEnv(resolution=300)


# A few ticks of each lab agent on the NES game: 2 emulators, 50-step episodes, one evaluation.
TRAIN_SHORT = ["env=smb", "env.num_envs=2", "env.max_episode_steps=50", "trainer.total_steps=128",
               "env.eval_episodes=1", "trainer.video_every=0", "wandb.mode=disabled"]


@pytest.mark.parametrize("agent,extra", [
    ("ppo", ["agent.n_steps=16", "agent.batch_size=32"]),                        # (240, 256, 3) RGB
    ("dqn", ["agent.buffer_size=512", "agent.learning_starts=64", "agent.batch_size=16", "agent.train_freq=2",
             "env.grayscale=true", "env.resolution=84", "env.frame_stack=4", "agent.frame_stack=4"]),
])
def test_lab_agents_train_on_the_nes_game(agent, extra, tmp_path):
    pytest.importorskip("torch", reason="training needs the lab installed in .venv-smb (README: env=smb)")
    import json

    from conftest import cli

    run = tmp_path / "run"
    out = cli([f"agent={agent}", *TRAIN_SHORT, *extra, f"hydra.run.dir={run}"], timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "completed" and result["steps"] >= 128, result
    assert result["final"]["episodes"] == 1 and np.isfinite(result["final"]["return_mean"])
    assert (run / "checkpoints" / "last.pt").is_file()
