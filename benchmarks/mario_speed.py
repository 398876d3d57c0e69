"""Steps per second of the built-in Mario-like game: single env and native vector env,
grid and pixel observations, random actions on the `intro` level (runs in < 60 s).

    python benchmarks/mario_speed.py [--seconds 3] [--num-envs 1024]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import envs.mario


def bench_single(seconds: float, **kwargs) -> tuple[float, int]:
    env = gym.make("lab/Mario-v0", level="intro", **kwargs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, term, trunc, _ = env.step(int(rng.integers(7)))
        n += 1
        if term or trunc:
            env.reset()
    return n / (time.perf_counter() - t0), n


def bench_vector(seconds: float, num_envs: int, **kwargs) -> tuple[float, int]:
    env = gym.make_vec("lab/Mario-v0", num_envs=num_envs, level="intro", **kwargs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 7, size=(64, num_envs))
    env.step(actions[0])  # warm-up (numba compiles on first use unless cached)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for a in actions[:8]:
            env.step(a)
        n += 8 * num_envs
    return n / (time.perf_counter() - t0), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds measured per case")
    parser.add_argument("--num-envs", type=int, default=1024)
    args = parser.parse_args()
    envs.mario.register()
    t0 = time.perf_counter()
    gym.make_vec("lab/Mario-v0", num_envs=2, obs="pixels").reset(seed=0)  # compile/load numba cache
    print(f"start-up (numba compile or cache load): {time.perf_counter() - t0:.1f} s")
    pix84 = dict(obs="pixels", grayscale=True, resolution=84)
    cases = [
        ("single", "grid", dict(obs="grid")),
        ("single", "pixels 84x84 gray", pix84),
        ("vector", "grid", dict(obs="grid")),
        ("vector", "pixels 84x84 gray", pix84),
        ("vector", "pixels 84x84 gray, stack 4", dict(pix84, frame_stack=4)),
        ("vector", "pixels 240x256 RGB", dict(obs="pixels")),
    ]
    print(f"{'env':8s} {'obs':28s} {'N':>6s} {'seconds':>8s} {'steps':>10s} {'steps/s':>12s}")
    for kind, label, kw in cases:
        if kind == "single":
            rate, n = bench_single(args.seconds, **kw)
            num = 1
        else:
            num = args.num_envs if "240x256" not in label else max(args.num_envs // 8, 1)
            rate, n = bench_vector(args.seconds, num, **kw)
        print(f"{kind:8s} {label:28s} {num:6d} {args.seconds:8.1f} {n:10d} {rate:12,.0f}")


if __name__ == "__main__":
    main()
