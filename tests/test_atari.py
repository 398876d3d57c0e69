"""env=atari (envs/atari.py): the DeepMind preprocessing, training signals vs reported returns,
NEXT_STEP autoreset, FIRE to launch, and DQN/PPO end to end on a real ALE game with tiny budgets.

The training-signal tests use a scripted fake ALE game (known rewards and lives), so they check
exact numbers; the rest use ALE/Pong-v5 and ALE/Breakout-v5 (ale-py ships the ROMs) and are
skipped without ale-py.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from conftest import train
from gymnasium.vector import AutoresetMode

pytest.importorskip("cv2", reason="Atari preprocessing needs opencv-python-headless")

from envs.atari import wrap_atari  # noqa: E402
from envs.source import RLSource  # noqa: E402

DEFAULTS = dict(noop_max=30, frame_skip=4, screen_size=84, grayscale=True, frame_stack=4,
                terminal_on_life_loss=True, clip_reward=True, fire_reset=True, repeat_action_probability=0.25)


# --------------------------------------------------------------------------- a scripted fake game
class _FakeALE:
    """The part of ale_py's ALEInterface that AtariPreprocessing and TrainingSignals read."""

    def __init__(self, game: "FakeGame") -> None:
        self.game = game

    def lives(self) -> int:
        return self.game.lives

    def getScreenGrayscale(self, out: np.ndarray) -> None:
        out[:] = self.game.frame % 256

    def getScreenRGB(self, out: np.ndarray) -> None:
        out[:] = self.game.frame % 256


class FakeGame(gym.Env):
    """Every 8th frame scores 5 points; a life is lost every 40 frames; 3 lives, so a game is
    120 frames: with frame skip 4, 30 agent steps, a reward of 5 every 2nd step (75 in all),
    lives lost after agent steps 10 and 20, game over at step 30."""

    observation_space = gym.spaces.Box(0, 255, (210, 160), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def __init__(self) -> None:
        self._frameskip = 1
        self.ale = _FakeALE(self)
        self.frame, self.lives = 0, 3
        self.actions: list[int] = []  # the action of every frame since the last reset

    def get_action_meanings(self) -> list[str]:
        return ["NOOP", "FIRE", "UP"]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.frame, self.lives, self.actions = 0, 3, []
        return np.zeros((210, 160), np.uint8), {"lives": self.lives}

    def step(self, action):
        self.actions.append(int(action))
        self.frame += 1
        reward = 5.0 if self.frame % 8 == 0 else 0.0
        if self.frame % 40 == 0:
            self.lives -= 1
        obs = np.full((210, 160), self.frame % 256, np.uint8)
        return obs, reward, self.lives == 0, False, {"lives": self.lives}


def fake_env(game: FakeGame, **settings) -> gym.Env:
    """`game` wrapped as env=atari wraps a real one, without no-ops at reset."""
    kw = {**{k: v for k, v in DEFAULTS.items() if k != "repeat_action_probability"}, "noop_max": 0, **settings}
    return wrap_atari(game, **kw)


def fake_vec(n: int, **settings) -> gym.vector.VectorEnv:
    # no FIRE launch here, so agent steps and game frames line up (FIRE has its own tests below)
    return gym.vector.SyncVectorEnv([lambda: fake_env(FakeGame(), **{"fire_reset": False, **settings})] * n,
                                    autoreset_mode=AutoresetMode.NEXT_STEP)


def test_training_rewards_are_clipped_and_lives_end_training_episodes_but_reported_episodes_are_full_games() -> None:
    source = RLSource(lambda n: fake_vec(n), num_envs=2, seed=0)
    rewards, terminated, valid = [], [], []
    for _ in range(31):
        _, r, term, _, v = source.step(np.zeros(2, dtype=np.int64))
        rewards.append(r[0]), terminated.append(term[0]), valid.append(v[0])
    # what the learner sees: sign(5) = 1 every 2nd step, an episode end at each lost life
    assert set(np.unique(rewards[:30])) == {0.0, 1.0} and sum(rewards[:30]) == 15
    assert [t + 1 for t in np.flatnonzero(terminated)] == [10, 20, 30]
    # a lost life does not reset the game: only the step after game over is a (NEXT_STEP) reset step
    assert [t + 1 for t in np.flatnonzero(~np.array(valid))] == [31]
    # what is reported: the full game, unclipped
    assert list(source.recent) == [(75.0, 30), (75.0, 30)] and source.episodes == 2
    assert source.log_metrics()["train/episode_return"] == 75.0
    # evaluation plays full games with the env's own rewards
    result = source.evaluate(lambda obs, first: np.zeros(len(obs), dtype=np.int64), 3).metrics
    assert result["return_mean"] == 75.0 and result["length_mean"] == 30 and result["episodes"] == 3
    source.close()


def test_training_signals_can_be_switched_off() -> None:
    source = RLSource(lambda n: fake_vec(n, clip_reward=False, terminal_on_life_loss=False), num_envs=1, seed=0)
    steps = [source.step(np.zeros(1, dtype=np.int64)) for _ in range(30)]
    assert sum(s[1][0] for s in steps) == 75.0
    assert [t + 1 for t, s in enumerate(steps) if s[2][0]] == [30]
    source.close()


def test_next_step_autoreset_starts_a_new_stack_after_game_over() -> None:
    env = fake_vec(1)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (1, 4, 84, 84) and obs.dtype == np.uint8
    assert (obs[0] == obs[0, -1]).all()  # a new episode's stack repeats its first frame
    for t in range(1, 31):
        prev, (obs, reward, terminated, truncated, info) = obs, env.step(np.zeros(1, dtype=np.int64))
        np.testing.assert_array_equal(obs[0, :-1], prev[0, 1:])  # frames shift by one per step
        if t < 30:  # the frame max-pools the last two of the step's 4 frames: the newest one's value
            assert obs[0, -1, 0, 0] == 4 * t
    assert terminated[0]
    obs, reward, terminated, truncated, info = env.step(np.ones(1, dtype=np.int64))  # the reset step
    assert reward[0] == 0 and not terminated[0] and (obs[0] == 0).all()
    env.close()


def test_fire_reset_launches_after_reset_and_after_each_lost_life() -> None:
    # FakeGame's action 1 is FIRE. Reset: FIRE, then action 2, one agent step (4 frames) each.
    game = FakeGame()
    env = fake_env(game)
    env.reset(seed=0)
    assert game.actions == [1] * 4 + [2] * 4
    steps = [env.step(0) for _ in range(24)]
    # lives are lost at frames 40 and 80, agent steps 8 and 16 (8 frames went to the launch);
    # each of those steps relaunches inside itself: 8 more frames of FIRE and action 2
    assert game.actions == [1] * 4 + [2] * 4 + ([0] * 32 + [1] * 4 + [2] * 4) * 2 + [0] * 32
    assert [t + 1 for t, s in enumerate(steps) if s[4]["train_terminated"]] == [8, 16, 24]
    assert steps[-1][2] and not any(s[2] for s in steps[:-1])  # the game is over at frame 120
    # a launch step's reward (frames 48 and 88 score) counts for the step that lost the life;
    # the launch after reset is part of the reset, as in baselines' FireResetEnv
    assert steps[7][1] == 10.0 and sum(s[1] for s in steps) == 70.0


def test_fire_reset_after_a_lost_life_only_with_terminal_on_life_loss_and_off_with_the_flag() -> None:
    game = FakeGame()
    env = fake_env(game, terminal_on_life_loss=False)
    env.reset(seed=0)
    for _ in range(28):
        *_, terminated, _, _ = env.step(0)
    assert terminated and game.actions == [1] * 4 + [2] * 4 + [0] * 112
    game = FakeGame()
    env = fake_env(game, fire_reset=False)
    env.reset(seed=0)
    env.step(0)
    assert game.actions == [0] * 4


# --------------------------------------------------------------------------- a real ALE game
def _ale() -> None:
    pytest.importorskip("ale_py", reason="Atari envs need ale-py")


def test_pong_preprocessing_shapes_and_vector_env() -> None:
    _ale()
    from envs import make_vec

    env = make_vec("ALE/Pong-v5", 2, kwargs=DEFAULTS)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.single_observation_space == gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    assert env.single_action_space == gym.spaces.Discrete(6)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
    for _ in range(5):
        prev, (obs, *_rest) = obs, env.step(np.array([2, 3]))
        np.testing.assert_array_equal(obs[:, :-1], prev[:, 1:])
    assert obs[:, -1].std() > 0  # a real screen, not padding
    env.close()
    rgb = make_vec("ALE/Pong-v5", 1, kwargs={**DEFAULTS, "grayscale": False, "screen_size": 64, "frame_stack": 2})
    assert rgb.single_observation_space.shape == (6, 64, 64)
    assert rgb.reset(seed=0)[0].shape == (1, 6, 64, 64)
    rgb.close()


def test_unknown_ale_id_is_one_clear_line(tmp_path: Path) -> None:
    _ale()
    from lab.core.errors import LabError

    with pytest.raises(LabError) as err:
        train(["agent=dqn", "env=atari", "env.id=ALE/Pongg-v5"], tmp_path / "run")
    message = str(err.value)
    assert "unknown env id 'ALE/Pongg-v5'" in message and "ALE/Pong-v5" in message and "\n" not in message


TINY = ["env.max_episode_steps=60", "trainer.eval_every=0", "env.eval_episodes=1", "trainer.log_every=0",
        "trainer.checkpoint_every=0"]


def _check_run(run_dir: Path, result: dict, steps: int) -> None:
    assert result["status"] == "completed" and result["steps"] == steps
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["eval/episodes"] == 1 and lines[-1]["eval/length_mean"] == 60
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def test_dqn_runs_end_to_end_on_pong(tmp_path: Path) -> None:
    _ale()
    result = train(["agent=dqn", "env=atari", "trainer.total_steps=200", "agent.learning_starts=100",
                    "agent.buffer_size=1000", "agent.batch_size=8", "agent.train_freq=20", "agent.gradient_steps=2",
                    *TINY], tmp_path / "run")
    _check_run(tmp_path / "run", result, 200)


def test_ppo_runs_end_to_end_on_pong(tmp_path: Path) -> None:
    _ale()
    result = train(["agent=ppo", "env=atari", "env.num_envs=2", "agent.n_steps=50", "agent.batch_size=50",
                    "agent.n_epochs=1", "trainer.total_steps=200", *TINY], tmp_path / "run")
    _check_run(tmp_path / "run", result, 200)


# ALE RAM of Breakout: the ball's x and y (the AtariARI annotations, Anand et al. 2019); both are 0
# while the ball waits to be launched
BALL_X, BALL_Y = 99, 101


@pytest.mark.parametrize("fire_reset", [True, False])
def test_breakout_resets_into_a_launched_ball(fire_reset: bool) -> None:
    _ale()
    from envs import make_vec

    env = make_vec("ALE/Breakout-v5", 2, kwargs={**DEFAULTS, "fire_reset": fire_reset})
    env.reset(seed=0)
    balls = [sub.unwrapped.ale.getRAM()[[BALL_X, BALL_Y]] for sub in env.envs]
    # an agent that never presses FIRE: the ball falls past the still paddle once per life
    for _ in range(500):
        *_, terminated, _, _ = env.step(np.zeros(2, dtype=np.int64))
        if terminated.all():
            break
    lives = [sub.unwrapped.ale.lives() for sub in env.envs]
    env.close()
    if fire_reset:
        assert all(ball.all() for ball in balls)  # in flight right after reset
        assert terminated.all() and lives == [0, 0]  # relaunched after every lost life: game over
    else:
        assert not any(ball.any() for ball in balls)
        assert not terminated.any() and lives == [5, 5]  # still waiting for FIRE


def test_untrained_agent_evaluation_on_breakout_ends_well_before_the_time_limit(tmp_path: Path) -> None:
    # an untrained greedy policy rarely picks FIRE: without fire_reset every evaluation episode ran
    # to the ALE's 108k-frame limit (26,996 agent steps, 15 min for 10 episodes on this machine)
    _ale()
    result = train(["agent=ppo", "env=atari", "env.id=ALE/Breakout-v5", "env.num_envs=2", "agent.n_steps=32",
                    "agent.batch_size=64", "agent.n_epochs=1", "trainer.total_steps=64", "trainer.eval_every=0",
                    "env.eval_episodes=2", "trainer.checkpoint_every=0", "trainer.video_every=0"],
                   tmp_path / "run")
    assert result["status"] == "completed" and result["final"]["episodes"] == 2
    assert result["final"]["length_mean"] < 2000  # the time limit is 27,000 steps
