"""What `trainer.video_every` costs: PPO on CartPole with no video, the default (`auto`) and explicit
intervals, side by side in one run, and what one training video costs before and after its encoder
settings changed.

Every run trains the ppo_cartpole preset for the same number of steps (trainer.stop_at=null).
Per seed the variants run twice, in the order A B C C B A, so that a machine getting busier or
quieter (other jobs) shifts every variant alike; each variant's mean of its two runs is compared
with the same seed's no-video runs, and medians over seeds are reported: the wall time of train()
(start-up excluded; it includes waiting for the last video), the training wall time (result.json,
which ends before that wait), CPU time, videos per run, and what the hook charged its budget
(the seconds it measured videos to cost, as a share of the run's wall time). The encoder part replays one 500-step CartPole episode (251 frames at 25 fps) into an
mp4 with the old settings (x264 superfast, ffmpeg's own thread count) and the new ones (ultrafast,
one thread), alternating, and reports medians of CPU and wall seconds per video.

    python benchmarks/video_overhead.py --steps 200000 --every 50000 --seeds 3
    python benchmarks/video_overhead.py --steps 1000000 --every --seeds 3 --no-encoders   # 0 and auto only

Results (and the machine's load while they were taken) are in benchmarks/RESULTS.md, "Training videos".
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the ffmpeg encoders)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run(steps: int, every: str, seed: int) -> dict:
    from hydra import compose, initialize_config_dir

    import lab.video as lv
    from lab.run import train

    overrides = ["agent=ppo", "env=cartpole", f"seed={seed}", "wandb.mode=disabled", "logger.console=false",
                 f"trainer.total_steps={steps}", "trainer.stop_at=null", f"trainer.video_every={every}"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    hooks: list = []
    add = lv.add_video_hook
    lv.add_video_hook = lambda *a: hooks.append(add(*a)) or hooks[-1]  # keep the hook: its own accounting
    run_dir = Path(tempfile.mkdtemp(prefix=f"video_{every}_"))
    try:
        cpu0 = _cpu_s()
        t = time.perf_counter()
        result = train(cfg, run_dir, overrides=overrides)
        wall = time.perf_counter() - t
        cpu = _cpu_s() - cpu0
    finally:
        lv.add_video_hook = add
    hook = hooks[0] if hooks else None
    videos = len(hook.written) if hook else 0
    return {"every": every, "seed": seed, "wall_s": round(wall, 3), "train_wall_s": result["wall_time_s"],
            "cpu_s": round(cpu, 2), "videos": videos,
            "video_s": round(hook.spent_s, 3) if hook else 0.0,  # what the hook charged: plays + videos
            "video_steps": [int(p.stem.split("_")[1]) for p in hook.written] if hook else [],
            "final_return": result["final"]["return_mean"]}


def summarise(rows: list[dict], variants: list[str]) -> dict:
    def mean(every: str, seed: int, key: str) -> float:
        return statistics.mean(r[key] for r in rows if r["every"] == every and r["seed"] == seed)

    seeds = sorted({r["seed"] for r in rows})
    summary = {"0": {key: round(statistics.median(mean("0", s, key) for s in seeds), 2)
                     for key in ("wall_s", "train_wall_s", "cpu_s")}}
    for every in variants[1:]:
        mine = [r for r in rows if r["every"] == every]
        with_videos = [r for r in mine if r["videos"]]
        summary[every] = {
            "videos_per_run": [r["videos"] for r in mine],
            **{f"median_{key}_ratio": round(statistics.median(mean(every, s, key) / mean("0", s, key) for s in seeds), 3)
               for key in ("wall_s", "train_wall_s", "cpu_s")},
            "median_charged_pct": round(100 * statistics.median(r["video_s"] / r["wall_s"] for r in mine), 2),
            "median_s_per_video": round(statistics.median(r["video_s"] / r["videos"] for r in with_videos), 2)
            if with_videos else None,
            "first_video_step": [r["video_steps"][0] for r in with_videos],
        }
        print(f"video_every={every}: {summary[every]}", flush=True)
    return summary


def encoder_costs(reps: int) -> dict:
    """CPU and wall seconds of one 500-step CartPole video: old vs new encoder settings."""
    import numpy as np

    import lab.video as lv
    from envs import make_vec

    env = make_vec("CartPole-v1", 1, render_mode="rgb_array")
    settings = {"superfast, ffmpeg's threads (before)": {"preset": "superfast", "threads": None},
                "ultrafast, 1 thread (now)": {"preset": "ultrafast", "threads": 1}}
    out: dict[str, list[dict]] = {name: [] for name in settings}
    with tempfile.TemporaryDirectory() as d:
        for rep in range(reps + 1):
            for name, kwargs in settings.items():
                cpu, kids, wall = time.thread_time(), lv._children_cpu_s(), time.perf_counter()
                render = 0.0
                with lv.VideoWriter(Path(d) / "v.mp4", 25, **kwargs) as video:
                    env.reset(seed=0)
                    video.append(lv.env_frames(env)[0])
                    for t in range(1, 501):
                        env.step(np.array([int(env.state[2, 0] > 0)]))  # lean into the pole: 500 steps
                        if t % 2 == 0:
                            r = time.thread_time()
                            frame = lv.env_frames(env)[0]
                            render += time.thread_time() - r
                            video.append(frame)
                thread = time.thread_time() - cpu
                ffmpeg = lv._children_cpu_s() - kids
                if rep:  # the first round warms pygame and the page cache up
                    out[name].append({"render_cpu_s": render, "python_cpu_s": thread, "ffmpeg_cpu_s": ffmpeg,
                                      "total_cpu_s": thread + ffmpeg, "wall_s": time.perf_counter() - wall,
                                      "frames": video.frames, "bytes": (Path(d) / "v.mp4").stat().st_size})
    env.close()
    summary = {name: {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]} for name, rows in out.items()}
    for name, s in summary.items():
        print(f"encoder {name}: {s}", flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--every", nargs="*", default=["50000"], help="explicit intervals besides 0 and auto")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--encoder-reps", type=int, default=5)
    parser.add_argument("--no-encoders", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "video_overhead.json")
    args = parser.parse_args()
    import logging

    from lab.config import register_configs

    logging.getLogger("lab.messages").disabled = True
    register_configs()
    load = [os.getloadavg()[0]]
    encoders = None if args.no_encoders else encoder_costs(args.encoder_reps)
    run(4096, "0", 0)  # warm-up: first-call imports (torch._dynamo via Adam, pygame, ffmpeg) are start-up
    variants = ["0", "auto", *args.every]
    rows = []
    for seed in range(args.seeds):
        for every in variants + variants[::-1]:  # A B C C B A: a linear drift in load cancels
            rows.append(run(args.steps, every, seed))
            load.append(os.getloadavg()[0])
            print(rows[-1], f"load {load[-1]:.1f}", flush=True)
    summary = summarise(rows, variants)
    import gymnasium
    import imageio_ffmpeg
    import pygame
    import torch

    machine = {"python": platform.python_version(), "torch": torch.__version__, "gymnasium": gymnasium.__version__,
               "pygame": pygame.version.ver, "ffmpeg": imageio_ffmpeg.get_ffmpeg_version(),
               "cpus": os.cpu_count(), "platform": platform.platform(),
               "load_avg_1min": {"min": min(load), "median": statistics.median(load), "max": max(load)}}
    print(machine, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "steps": args.steps, "seeds": args.seeds,
                                    "encoders": encoders, "runs": rows, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
