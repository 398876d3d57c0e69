"""What `trainer.video_every` costs: PPO on CartPole with and without training videos.

Runs the ppo_cartpole preset for a fixed budget (trainer.stop_return=null, so every run trains
the same number of steps), alternating video_every=0 and each interval over seeds, and reports
the wall time of train() (start-up excluded; it includes waiting for the last video), the
training wall time (result.json), CPU seconds (with the ffmpeg encoders) per video, and the overhead.

    python benchmarks/video_overhead.py --steps 100000 --every 25000 50000 --seeds 3

Measured (2 shared CPU cores, load average ~4 from other jobs, so wall times are noisy; CPU
seconds are steadier). Baseline: 4.4-5.2 s CPU, 4.6-7.9 s wall for 100k steps.

    video_every  videos  CPU s/video  train() wall  training wall (result.json)
    25000        4       1.57         +74%          +49%
    50000        2       1.36         +41%          +7%

Not under 5%: a 500-step CartPole video (251 frames at 25 fps) costs ~1.4 s of CPU, a quarter
of the whole 100k-step training. Before training videos skipped frames to 25 fps it was ~2.7 s.
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


def run(steps: int, every: int, seed: int) -> dict:
    from hydra import compose, initialize_config_dir

    from lab.run import train

    overrides = ["agent=ppo", "env=cartpole", f"seed={seed}", "wandb.mode=disabled", "logger.console=false",
                 f"trainer.total_steps={steps}", "trainer.stop_return=null", f"trainer.video_every={every}"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    run_dir = Path(tempfile.mkdtemp(prefix=f"video_{every}_"))
    cpu0 = _cpu_s()
    t = time.perf_counter()
    result = train(cfg, run_dir, overrides=overrides)
    wall = time.perf_counter() - t
    cpu = _cpu_s() - cpu0
    videos = sorted((run_dir / "media").glob("step_*.mp4")) if every else []
    return {"every": every, "seed": seed, "wall_s": round(wall, 3), "train_wall_s": result["wall_time_s"],
            "cpu_s": round(cpu, 2),
            "videos": len(videos), "final_return": result["final"]["return_mean"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--every", type=int, nargs="+", default=[25_000, 50_000])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    from lab.config import register_configs

    register_configs()
    run(4096, 0, 0)  # warm-up: first-call imports (torch._dynamo via Adam, pygame, ffmpeg) are start-up
    rows = []
    for seed in range(args.seeds):
        for every in [0, *args.every]:
            rows.append(run(args.steps, every, seed))
            print(rows[-1], flush=True)
    base = {r["seed"]: r["wall_s"] for r in rows if r["every"] == 0}
    base_train = {r["seed"]: r["train_wall_s"] for r in rows if r["every"] == 0}
    base_cpu = {r["seed"]: r["cpu_s"] for r in rows if r["every"] == 0}
    summary = {}
    for every in args.every:
        mine = [r for r in rows if r["every"] == every]
        extra = [r["wall_s"] - base[r["seed"]] for r in mine]
        summary[every] = {
            "videos_per_run": statistics.mean(r["videos"] for r in mine),
            "baseline_wall_s": round(statistics.mean(base[r["seed"]] for r in mine), 2),
            "wall_s": round(statistics.mean(r["wall_s"] for r in mine), 2),
            "s_per_video": round(statistics.mean(e / r["videos"] for e, r in zip(extra, mine)), 3),
            "overhead_pct": round(100 * statistics.mean(e / base[r["seed"]] for e, r in zip(extra, mine)), 1),
            "train_wall_overhead_pct": round(100 * statistics.mean(
                r["train_wall_s"] / base_train[r["seed"]] - 1 for r in mine), 1),
            "cpu_s_per_video": round(statistics.mean(
                (r["cpu_s"] - base_cpu[r["seed"]]) / r["videos"] for r in mine), 3),
        }
        print(f"video_every={every}: {summary[every]}", flush=True)
    out = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                       "load_avg_1min_at_end": os.getloadavg()[0]},
           "steps": args.steps, "runs": rows, "summary": summary}
    path = ROOT / "benchmarks" / "out" / "video_overhead.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
