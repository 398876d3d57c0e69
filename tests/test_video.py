"""Media helpers (lab/video.py): rgb_array frames of vector envs, padding, tiling, mp4/GIF files,
and the training hook behind trainer.video_every (headless, no display needed)."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from conftest import compose

from lab import video as lv
from lab.core import media


def decode(path: Path) -> list[np.ndarray]:
    with imageio.get_reader(str(path)) as reader:
        return [np.asarray(f) for f in reader]


@pytest.mark.parametrize("vectorization,kind", [("auto", list), ("sync", tuple)])
def test_env_frames_of_native_and_sync_vector_envs(vectorization: str, kind: type) -> None:
    from envs import make_vec

    env = make_vec("CartPole-v1", 2, vectorization=vectorization, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        assert isinstance(env.render(), kind)  # Gymnasium 1.4: CartPoleVectorEnv a list, SyncVectorEnv a tuple
        frames = lv.env_frames(env)
        assert len(frames) == 2 and all(f.shape == (400, 600, 3) and f.dtype == np.uint8 for f in frames)
        assert lv.render_fps(env) == 50
    finally:
        env.close()


def test_env_frames_accepts_a_batch_and_rejects_no_render_mode() -> None:
    class Batch:
        def render(self):
            return np.zeros((3, 8, 10, 3), np.uint8)

    class NoRender:
        def render(self):
            return None

    assert len(lv.env_frames(Batch())) == 3
    with pytest.raises(RuntimeError, match="rgb_array"):
        lv.env_frames(NoRender())


def test_pad_frame_reaches_the_macro_block_and_keeps_the_image() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (37, 50, 3), dtype=np.uint8)
    out = media.pad_frame(frame)
    assert out.shape == (48, 64, 3)
    assert np.array_equal(out[:37, :50], frame)
    assert np.array_equal(out[40, :50], frame[36])  # edge pixels repeated, not black bars
    same = np.zeros((32, 48, 3), np.uint8)
    assert media.pad_frame(same) is same


def test_tiler_one_env_is_unchanged_and_many_make_a_dimmed_mosaic() -> None:
    white = np.full((400, 600, 3), 255, np.uint8)
    assert media.Tiler(1)([white], np.array([True])) is white
    tiler = media.Tiler(3, max_width=960)
    mosaic = tiler([white] * 3, np.array([True, True, True]))
    assert mosaic.shape == (400, 600, 3)  # 2 x 2 grid of 300 x 200 tiles (shrunk by 2 to fit 960)
    assert mosaic[:200, :600].min() == 255 and mosaic[200:, 300:].max() == 0  # the empty fourth slot
    black = np.zeros_like(white)
    mosaic = tiler([black, black, black], np.array([True, False, True]))
    assert mosaic[0, 300:600].max() == int(255 * 0.35)  # env 1 finished: its last frame, dimmed
    assert mosaic[0, :300].max() == 0


def test_video_writer_roundtrip_and_gif(tmp_path: Path) -> None:
    frames = [np.full((37, 50, 3), 20 * k, np.uint8) for k in range(6)]
    path = tmp_path / "media" / "clip.mp4"
    with media.VideoWriter(path, fps=15) as video:
        for f in frames:
            video.append(f)
    assert video.frames == 6 and video.size == (48, 64)
    decoded = decode(path)
    assert len(decoded) == 6 and decoded[0].shape == (48, 64, 3)
    assert abs(int(decoded[5][10, 10, 0]) - 100) <= 6  # lossy, but the picture is there
    with imageio.get_reader(str(path)) as reader:
        assert reader.get_meta_data()["fps"] == 15
    gif = media.mp4_to_gif(path, tmp_path / "clip.gif")
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_live_view_quits_on_q(monkeypatch) -> None:
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from lab.watch import LiveView, Quit

    view = LiveView(fps=1000, speed=1.0, title="test")
    try:
        view.show(np.zeros((40, 60, 3), np.uint8))
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q))
        with pytest.raises(Quit):
            view.show(np.zeros((40, 60, 3), np.uint8))
    finally:
        view.close()


# --------------------------------------------------------------------------- training hook
def test_video_every_records_eval_episodes_to_media_and_wandb(tmp_path: Path) -> None:
    from lab.run import train

    overrides = ["agent=ppo", "env=cartpole", "trainer.total_steps=2048", "trainer.eval_every=1024",
                 "env.eval_episodes=2", "logger.console=false", "wandb.mode=offline"]
    run = tmp_path / "run"
    with_video = train(compose(overrides + ["trainer.video_every=1000"]), run)
    media = sorted(p.name for p in (run / "media").glob("*.mp4"))
    assert media == ["step_1024.mp4", "step_2048.mp4"]  # every 1000 steps (ticks of 512) and the last step
    frames = decode(run / "media" / "step_2048.mp4")
    assert frames[0].shape == (400, 608, 3)  # CartPole's 600 x 400, padded to the macro block
    assert 2 <= len(frames) <= 251  # one episode: the first frame and every 2nd step (50 fps -> 25)
    with imageio.get_reader(str(run / "media" / "step_2048.mp4")) as reader:
        assert reader.get_meta_data()["fps"] == 25
    assert list(run.glob("wandb/offline-run-*/files/media/videos/eval/*.mp4"))  # logged as eval/video
    # recording acts deterministically on its own env: training is unchanged
    without = train(compose(overrides[:-1] + ["wandb.mode=disabled", "trainer.video_every=0"]), tmp_path / "plain")
    assert not (tmp_path / "plain" / "media").exists()
    assert with_video["final"] == without["final"]


@pytest.mark.filterwarnings("ignore:.*render_mode='rgb_array' that is not in the possible")
def test_video_failure_is_one_warning_not_a_failed_run(tmp_path: Path, caplog) -> None:
    from lab.run import train

    import gymnasium as gym

    class NoRender(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.zeros(2, np.float32), {}

        def step(self, action):
            self.t += 1
            return np.zeros(2, np.float32), 1.0, False, self.t >= 8, {}

    gym.register("LabTest/NoRender-v0", entry_point=NoRender)
    run = tmp_path / "run"
    result = train(compose(["env=gym", "env.id=LabTest/NoRender-v0", "env.num_envs=2", "agent.n_steps=32",
                            "agent.batch_size=32", "trainer.total_steps=256", "trainer.eval_every=0",
                            "env.eval_episodes=1", "trainer.video_every=64", "logger.console=false",
                            "wandb.mode=disabled"]), run)
    assert result["completed"]
    assert not list((run / "media").glob("*.mp4")) if (run / "media").exists() else True
    assert "recording failed" in caplog.text
    assert json.loads((run / "result.json").read_text())["status"] == "completed"


# --------------------------------------------------------------------------- trainer.video_every=auto
AUTO = ["agent=ppo", "env=cartpole", "trainer.total_steps=4096", "trainer.eval_every=0", "env.eval_episodes=1",
        "trainer.stop_at=null", "logger.console=false", "wandb.mode=disabled"]  # auto is the default


def test_auto_records_when_the_budget_allows_one_video_at_a_time(tmp_path: Path, monkeypatch) -> None:
    from lab.run import train

    # a test-sized run (a fraction of a second): videos may take all of it, and the first guess of
    # their cost is small; the measured cost of the first video then decides about the others
    monkeypatch.setattr(lv, "VIDEO_BUDGET", 1.0)
    monkeypatch.setattr(lv, "VIDEO_OVERHEAD_S", 0.01)
    monkeypatch.setattr(lv, "FIRST_FRAME_COST_S", 0.0001)
    hooks: list[lv.EvalVideo] = []
    add = lv.add_video_hook
    monkeypatch.setattr(lv, "add_video_hook", lambda *args: hooks.append(add(*args)) or hooks[-1])
    run = tmp_path / "run"
    train(compose(AUTO), run)
    (hook,) = hooks
    media = sorted((run / "media").glob("step_*.mp4"))
    assert media and media == sorted(hook.written)
    assert len(media) < 4096 // 512  # not one a tick: one video at a time, each paid for first
    assert hook.cpu.frames > lv.FIRST_FRAMES  # the cost of a frame is the run's own, measured
    assert "videos: " in (run / "train.log").read_text()


def test_auto_skips_videos_the_budget_cannot_pay_for(tmp_path: Path, monkeypatch) -> None:
    from lab.run import train

    # the default budget: a 4096-step run (a second or two) affords no video and says why
    run = tmp_path / "short"
    train(compose(AUTO), run)
    assert not (run / "media").exists()
    assert "trainer.video_every=auto: no video" in (run / "train.log").read_text()

    # a generous budget but a slow video (ffmpeg "takes" 1000 s of CPU): the first video's measured
    # cost uses up the budget, so there is no second, nor one at the end
    monkeypatch.setattr(lv, "VIDEO_BUDGET", 1.0)
    monkeypatch.setattr(lv, "VIDEO_OVERHEAD_S", 0.01)
    monkeypatch.setattr(lv, "FIRST_FRAME_COST_S", 0.0001)
    slow = iter(range(0, 10**9, 1000))
    monkeypatch.setattr(lv, "_children_cpu_s", lambda: float(next(slow)))
    run = tmp_path / "slow"
    train(compose(AUTO), run)
    assert len(list((run / "media").glob("step_*.mp4"))) == 1


def test_video_every_auto_or_a_number_or_nothing() -> None:
    from lab.config import validate

    assert compose(["agent=ppo", "env=cartpole"]).trainer.video_every == "auto"  # the default
    assert validate(compose(["agent=ppo", "env=cartpole", "trainer.video_every=5000"])) is None
    assert validate(compose(["agent=ppo", "env=cartpole", "trainer.video_every=0"])) is None
    for bad in ("sometimes", "-1", "2.5", "true"):
        err = validate(compose(["agent=ppo", "env=cartpole", f"trainer.video_every={bad}"]))
        assert err and err.startswith(f"trainer.video_every={bad}".replace("true", "True")), err
        assert "auto or a whole number >= 0" in err or "must be >= 0" in err
