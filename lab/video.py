"""Videos of evaluation episodes: frames from rgb_array rendering of (vector) envs, the taps that
record them, and the training hook behind `trainer.video_every` (auto or N). Never needs a
display; the files are written by lab/core/media.py.

Training records one deterministic evaluation episode (the first evaluation seed) to
`<run>/media/step_<N>.mp4` and logs it to W&B as `eval/video`: with `trainer.video_every=N` every
N steps and at the end; with `auto` (the default) whenever videos so far fit in 3% of the run's
wall time. Used by `lab.watch` too.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

# Classic-control envs render through pygame, which opens an audio device on init; headless,
# ALSA prints a screenful of errors. The lab never plays sound.
# Headless, its video init probes Wayland and complains too; rendering to arrays needs no window.
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np

from lab.core.media import VideoWriter

log = logging.getLogger("lab")

DEFAULT_FPS = 30
TRAIN_VIDEO_FPS = 25  # training videos skip frames of faster envs: half the cost, still smooth


# --------------------------------------------------------------------------- frames
def env_frames(env: Any) -> list[np.ndarray]:
    """One H x W x 3 frame per sub-env of a vector env made with render_mode="rgb_array".

    Gymnasium 1.4: SyncVectorEnv/AsyncVectorEnv return a tuple of frames, the native
    CartPoleVectorEnv a list; a [n, H, W, 3] batch is accepted too.
    """
    out = env.render()
    if out is None:
        raise RuntimeError(f"{type(env).__name__}.render() returned None: it was not made with "
                           "render_mode='rgb_array'")
    if isinstance(out, np.ndarray):
        out = list(out) if out.ndim == 4 else [out]
    return [np.asarray(f, dtype=np.uint8) for f in out]


def render_fps(env: Any) -> float:
    """The env's own playback speed (`metadata["render_fps"]`), else 30."""
    return float((getattr(env, "metadata", None) or {}).get("render_fps") or DEFAULT_FPS)


def frame_step(env: Any) -> int:
    """Training videos render every k-th step of envs faster than TRAIN_VIDEO_FPS (CartPole: 50 fps -> 25)."""
    return max(1, int(render_fps(env) // TRAIN_VIDEO_FPS))


# --------------------------------------------------------------------------- evaluation taps
class EvalTap:
    """Stands in for an RLSource in `learner.evaluate(tap)`, so the learner's own evaluation
    policy (PPO: greedy; DQN: its eval_epsilon) runs in RLSource.evaluate for `episodes` episodes
    on the caller's `env` with the caller's `on_step`; `on_act(actions)` sees every batch of actions."""

    def __init__(self, source: Any, env: Any = None, on_step: Any = None, on_act: Any = None,
                 episodes: int | None = None) -> None:
        self.source, self.env, self.on_step, self.on_act, self.episodes = source, env, on_step, on_act, episodes

    def evaluate(self, act: Any, episodes: int | None = None, **kwargs: Any) -> Any:
        if self.on_act is not None:
            inner = act

            def act(obs: np.ndarray, first: np.ndarray) -> np.ndarray:
                actions = inner(obs, first)
                self.on_act(np.array(actions, copy=True))
                return actions
        return self.source.evaluate(act, self.episodes or episodes, env=self.env, on_step=self.on_step, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)


# --------------------------------------------------------------------------- training hook
VIDEO_BUDGET = 0.03  # trainer.video_every=auto: videos may cost 3% of the run's wall time so far
VIDEO_OVERHEAD_S = 0.1  # a video's fixed cost: ffmpeg start and stop, env reset
# Until a run has measured its own: what a rendered and encoded frame costs. CartPole (600 x 400,
# pygame): ~5 ms of CPU on the 2-core dev machine, ~8 ms when it is loaded (load average 9).
FIRST_FRAME_COST_S = 0.008
FIRST_FRAMES = 50  # frames guessed for a video before an episode is played; FIRST_FRAME_COST_S's weight


def _children_cpu_s() -> float:
    """CPU seconds of this process's finished children (the ffmpeg encoders)."""
    try:
        import resource
    except ImportError:  # Windows: ffmpeg's share goes unmeasured
        return 0.0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


class FrameCost:
    """Seconds per video frame, averaged over the frames measured so far (a guess counts as FIRST_FRAMES)."""

    def __init__(self) -> None:
        self.seconds, self.frames = FIRST_FRAME_COST_S * FIRST_FRAMES, FIRST_FRAMES

    def add(self, seconds: float, frames: int) -> None:
        self.seconds += max(seconds - VIDEO_OVERHEAD_S, 0.0)
        self.frames += frames

    def __call__(self, frames: int) -> float:
        """Seconds a video of `frames` frames will cost."""
        return VIDEO_OVERHEAD_S + frames * self.seconds / self.frames


class EvalVideo:
    """`trainer.video_every`: one deterministic evaluation episode on video, every N steps or,
    with `auto`, whenever it fits in a time budget.

    The training thread plays the episode (`learner.evaluate` through RLSource.evaluate on a 1-env
    copy of the eval env, the first evaluation seed) without rendering and keeps its actions: tens
    of milliseconds. A background thread replays those actions on a render-mode env from the same
    seed, writes `<run>/media/step_<step>.mp4` and logs it to W&B, so rendering (CartPole: ~4 ms a
    frame in pygame) and encoding overlap training. Acting is deterministic and draws no global
    random numbers, so videos do not change training. A failure (an env that cannot render, no
    ffmpeg) is one warning, never a stopped run.

    `auto` measures what each video costs the run (the episode played in the training thread, the
    replay thread's and ffmpeg's CPU time; at the end, the wall time the run waits) and records one,
    one at a time, only when the videos so far plus the next (its frames times the measured cost of
    a frame; a conservative guess before the first) fit in VIDEO_BUDGET of the run's wall time so far.
    """

    def __init__(self, learner: Any, source: Any, every: int | str, media_dir: Path, loggers: Any,
                 precision: str = "32") -> None:
        self.learner, self.source = learner, source
        self.auto = every == "auto"
        self.every = 0 if self.auto else int(every)
        self.media_dir, self.loggers, self.precision = Path(media_dir), loggers, precision
        self.env: Any = None  # plays the episode (no rendering), in the training thread
        self.next = self.every
        self.last_step: int | None = None
        self.failed = False
        self.jobs: queue.Queue = queue.Queue()
        self.worker: threading.Thread | None = None
        self.written: list[Path] = []
        # the budget: seconds spent on videos so far (measured, or reserved while one is in flight)
        self.lock = threading.Lock()
        self.t0 = time.perf_counter()
        self.spent_s = 0.0
        self.pending = 0  # videos queued or being written
        self.last_cost_s = 0.0  # CPU seconds of the last video written
        self.cpu, self.wall = FrameCost(), FrameCost()  # CPU time; wall time of the replay thread
        self.next_frames = FIRST_FRAMES  # frames of the last episode played: the guess for the next video
        self.play_s = 0.0  # how long the training thread took to play it

    def attach(self, trainer: Any) -> None:
        trainer.add_hook("on_start", self.on_start)
        trainer.add_hook("on_tick", self.on_tick)
        trainer.add_hook("on_end", self.on_end)

    # ------------------------------------------------------------------ when
    def on_start(self, trainer: Any) -> None:
        self.t0 = time.perf_counter()
        if not self.auto:
            self.next = (trainer.step // self.every + 1) * self.every  # resumed runs continue the schedule

    def on_tick(self, trainer: Any) -> None:
        if self.auto:
            if not self.pending and self.affordable(self.play_s + self.cpu(self.next_frames)):
                self.record(trainer)
        elif trainer.step >= self.next:
            self.record(trainer)
            self.next = (trainer.step // self.every + 1) * self.every

    def on_end(self, trainer: Any) -> None:
        last = trainer.status in ("completed", "solved") and self.last_step != trainer.step
        if last and not self.auto:
            self.record(trainer)
        elif last:
            # The run waits for this one: its cost is wall time (the replay's, which training slowed:
            # conservative), and the video in flight is waited for first, so its real cost counts.
            t = time.perf_counter()
            self.jobs.join()
            self._charge(time.perf_counter() - t)
            if self.affordable(self.play_s + self.final_cost(self.next_frames)):
                t = time.perf_counter()
                written = len(self.written)
                self.record(trainer, final=True)
                self.jobs.join()
                if len(self.written) > written:  # the wait beyond the CPU time already charged
                    self._charge(max(time.perf_counter() - t - self.last_cost_s, 0.0))
        self.close()
        self.report()

    def final_cost(self, frames: int) -> float:
        return max(self.cpu(frames), self.wall(frames))

    def affordable(self, cost: float) -> bool:
        with self.lock:
            return self.spent_s + cost <= VIDEO_BUDGET * (time.perf_counter() - self.t0)

    def _charge(self, seconds: float) -> None:
        with self.lock:
            self.spent_s += seconds

    def report(self) -> None:
        """One line: what the videos cost the run, or why `auto` recorded none."""
        wall = time.perf_counter() - self.t0
        if self.written:
            self.loggers.message(f"videos: {len(self.written)} in {self.media_dir}, {self.spent_s:.1f} s "
                                 f"({100 * self.spent_s / max(wall, 1e-9):.1f}% of {wall:.0f} s)")
        elif self.auto and not self.failed:
            cost = (f"~{self.cpu(self.next_frames):.1f} s for this episode's {self.next_frames} frames"
                    if self.play_s else f"~{self.cpu(self.next_frames):.1f} s for {self.next_frames} frames")
            self.loggers.message(
                f"trainer.video_every=auto: no video: {100 * VIDEO_BUDGET:.0f}% of this {wall:.1f} s run is "
                f"{VIDEO_BUDGET * wall:.2f} s, less than a video costs ({cost}); "
                f"trainer.video_every=N records every N steps regardless")

    # ------------------------------------------------------------------ what
    def close(self) -> None:
        """Wait for the videos still being written (their files are complete when the run returns)."""
        if self.worker is not None:
            self.jobs.put(None)
            self.worker.join()
            self.worker = None
        if self.env is not None:
            self.env.close()
            self.env = None

    def record(self, trainer: Any, final: bool = False) -> None:
        if self.failed:
            return
        import torch

        from lab.core.runtime import autocast

        actions: list[np.ndarray] = []
        ended: list[tuple[int, float, int]] = []
        t = time.perf_counter()
        try:
            if self.env is None:
                self.env = self.source.make_env(1)
            tap = EvalTap(self.source, self.env, on_step=lambda env, live, e, info: ended.extend(e),
                          on_act=actions.append, episodes=1)
            with torch.no_grad(), autocast(trainer.device, self.precision):
                self.learner.evaluate(tap)  # the learner's own evaluation policy, one episode
        except Exception as exc:  # a video is never worth a failed run
            self._fail(exc)
            return
        self.play_s = time.perf_counter() - t
        self._charge(self.play_s)
        frames = 1 + -(-len(actions) // frame_step(self.env))  # the first, every k-th and the last
        longer, self.next_frames = frames > self.next_frames, frames
        reserved = 0.0
        if self.auto:
            reserved = self.final_cost(frames) if final else self.cpu(frames)
            if longer and not self.affordable(reserved):
                return  # a longer episode than the one budgeted for: wait until the budget covers it
        with self.lock:
            self.spent_s += reserved  # until the replay thread has measured the real cost
            self.pending += 1
        self.last_step = trainer.step
        self.jobs.put((trainer.step, self.source.eval_seed, actions, ended[0][1], reserved))
        if self.worker is None:
            self.worker = threading.Thread(target=self._work, name="video", daemon=True)
            self.worker.start()

    def _fail(self, exc: BaseException) -> None:
        if not self.failed:
            log.warning("trainer.video_every: recording failed, no more videos this run: %s", exc)
        self.failed = True

    def _work(self) -> None:
        env = None
        while (job := self.jobs.get()) is not None:
            step, seed, actions, expected, reserved = job
            cpu, kids, wall = time.thread_time(), _children_cpu_s(), time.perf_counter()
            frames = 0
            try:
                if not self.failed:
                    env, frames = self._write(env, step, seed, actions, expected)
            finally:
                cost = time.thread_time() - cpu + _children_cpu_s() - kids
                with self.lock:
                    self.spent_s += cost - reserved
                    self.pending -= 1
                    self.last_cost_s = cost
                    if frames:
                        self.cpu.add(cost, frames)
                        self.wall.add(time.perf_counter() - wall, frames)
                self.jobs.task_done()
        self.jobs.task_done()
        if env is not None:
            env.close()

    def _write(self, env: Any, step: int, seed: int, actions: list[np.ndarray], expected: float) -> tuple[Any, int]:
        """Replay `actions` on a render-mode env into step_<step>.mp4; return the env and frames written."""
        path = self.media_dir / f"step_{step}.mp4"
        try:
            if env is None:
                env = self.source.make_env(1, render_mode="rgb_array")
            # ultrafast on one thread: encoding costs less than rendering (~1.5 ms a CartPole frame,
            # superfast ~2.5), the file is ~2x larger (~0.1 MB for 20 s) and it plays everywhere
            fps, k = render_fps(env), frame_step(env)
            with VideoWriter(path, fps / k, preset="ultrafast", threads=1) as video:
                env.reset(seed=seed)
                video.append(env_frames(env)[0])
                total = 0.0
                for t, a in enumerate(actions, 1):
                    _, reward, _, _, _ = env.step(a)
                    total += float(reward[0])
                    if t % k == 0 or t == len(actions):
                        video.append(env_frames(env)[0])
            if not math.isclose(total, expected, rel_tol=1e-6, abs_tol=1e-6):
                log.warning("trainer.video_every: the replay of step %d returned %.3f, the episode %.3f "
                            "(is the env deterministic given its seed?)", step, total, expected)
        except Exception as exc:
            self._fail(exc)
            path.unlink(missing_ok=True)
            return env, 0
        self.written.append(path)
        self.loggers.video(path, step)
        return env, video.frames


def add_video_hook(trainer: Any, learner: Any, source: Any, every: int | str, run_dir: Path, loggers: Any,
                   precision: str = "32") -> EvalVideo | None:
    """Register EvalVideo for runs whose source is an env; with an explicit N, others get one warning."""
    from envs.source import RLSource

    if every in (0, None):
        return None
    if not isinstance(source, RLSource):
        if every == "auto":
            return None  # other learners bring their own media (Learner.hooks: a GAN's sample grids)
        log.warning("trainer.video_every: %s does not play an env; no videos recorded", type(learner).__name__)
        return None
    hook = EvalVideo(learner, source, every, Path(run_dir) / "media", loggers, precision)
    hook.attach(trainer)
    return hook
