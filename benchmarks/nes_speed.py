"""Env steps per second: the lab's Mario-like game against the real NES Super Mario Bros, one run.

The lab game (lab/Mario-v0, native vector env, grid and 84x84 grayscale pixels) is measured in
this interpreter; the NES game (lab/SMB-v0, gym-super-mario-bros on nes-py: a single env and
Gymnasium's sync vector env of 8) in a subprocess of the environment that has the `smb` extra,
since that one pins numpy<2. Random actions (the `simple` set), frame skip 4, the `intro` level
and world 1-1, 84x84 grayscale for the NES game. Steps/s are wall-clock; per CPU-second (this
process's CPU time) is printed beside it, as the 2-core machine may be shared. The goal: the lab
game >= 1,000x the NES game's steps/s.

    python benchmarks/nes_speed.py --nes-python .venv-smb/bin/python [--seconds 5] [--num-envs 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _measure(step, seconds: float, steps_per_call: int) -> dict[str, float]:
    """Calls `step` for `seconds`; steps/s by the wall clock and per CPU-second of this process."""
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        step()
        n += steps_per_call
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"steps": n, "seconds": wall, "rate": n / wall, "cpu_rate": n / max(cpu, 1e-9)}


def bench_nes(seconds: float, num_envs: int) -> list[dict]:
    """The NES game (run in the smb environment): a single env and a sync vector env."""
    import gymnasium as gym

    import envs

    kwargs = dict(actions="simple", frame_skip=4, grayscale=True, resolution=84)
    rng = np.random.default_rng(0)
    out = []
    t0 = time.perf_counter()
    env = gym.make("lab/SMB-v0", **kwargs)
    env.reset(seed=0)
    startup = time.perf_counter() - t0

    def single():
        _, _, term, trunc, _ = env.step(int(rng.integers(7)))
        if term or trunc:
            env.reset()

    out.append({"env": "NES SMB", "kind": "single", "obs": "pixels 84x84 gray", "n": 1, "startup_s": startup,
                **_measure(single, seconds, 1)})
    env.close()
    t0 = time.perf_counter()
    venv = envs.make_vec("lab/SMB-v0", num_envs, vectorization="sync", kwargs=kwargs)
    venv.reset(seed=0)
    startup = time.perf_counter() - t0
    out.append({"env": "NES SMB", "kind": "sync vector", "obs": "pixels 84x84 gray", "n": num_envs,
                "startup_s": startup,
                **_measure(lambda: venv.step(rng.integers(0, 7, size=num_envs)), seconds, num_envs)})
    venv.close()
    return out


def bench_lab(seconds: float, num_envs: int) -> list[dict]:
    """The lab game's native vector env (numba), grid and 84x84 grayscale pixels."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers lab/Mario-v0)

    out = []
    pix84 = dict(obs="pixels", grayscale=True, resolution=84)
    for label, kw in (("grid", dict(obs="grid")), ("pixels 84x84 gray", pix84)):
        env = gym.make_vec("lab/Mario-v0", num_envs=num_envs, level="intro", actions="simple", frame_skip=4, **kw)
        env.reset(seed=0)
        actions = np.random.default_rng(0).integers(0, 7, size=(64, num_envs))
        env.step(actions[0])  # warm-up (numba compiles on first use unless cached)
        i = iter(range(10**12))
        out.append({"env": "lab Mario", "kind": "native vector", "obs": label, "n": num_envs,
                    **_measure(lambda: env.step(actions[next(i) % 64]), seconds, num_envs)})
        env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nes-python", default=str(ROOT / ".venv-smb/bin/python"),
                        help="the python of the environment with the smb extra")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds measured per case")
    parser.add_argument("--num-envs", type=int, default=1024, help="the lab game's vector size")
    parser.add_argument("--nes-envs", type=int, default=8, help="the NES game's sync vector size")
    parser.add_argument("--nes-only", action="store_true", help=argparse.SUPPRESS)  # the subprocess's part
    args = parser.parse_args()
    if args.nes_only:
        print(json.dumps(bench_nes(args.seconds, args.nes_envs)))
        return
    if not Path(args.nes_python).exists():
        sys.exit(f"no {args.nes_python}: build the NES game's environment first: python3 -m venv .venv-smb && "
                 ".venv-smb/bin/pip install 'numpy<2' gym-super-mario-bros==7.4.0 nes-py==8.2.1 gymnasium")
    rows = bench_lab(args.seconds, args.num_envs)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([args.nes_python, __file__, "--nes-only", "--seconds", str(args.seconds),
                           "--nes-envs", str(args.nes_envs)], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"the NES benchmark failed:\n{proc.stderr}")
    nes = json.loads(proc.stdout.strip().splitlines()[-1])
    rows += nes
    print(f"{'env':10s} {'vectorisation':14s} {'obs':18s} {'N':>5s} {'seconds':>8s} {'steps':>9s} "
          f"{'steps/s':>10s} {'per CPU-s':>10s}")
    for r in rows:
        print(f"{r['env']:10s} {r['kind']:14s} {r['obs']:18s} {r['n']:5d} {r['seconds']:8.1f} {r['steps']:9d} "
              f"{r['rate']:10,.0f} {r['cpu_rate']:10,.0f}")
    print(f"NES start-up: {nes[0]['startup_s']:.1f} s for one env (import, ROM, start screen), "
          f"{nes[1]['startup_s']:.1f} s for {nes[1]['n']}")
    nes_best = max(nes, key=lambda r: r["rate"])
    nes_best_cpu = max(nes, key=lambda r: r["cpu_rate"])
    print(f"ratio lab game / NES game (the NES game's faster case, {nes_best['kind']}); goal >= 1,000x:")
    for r in rows[:2]:
        print(f"  {r['obs']:18s} {r['rate'] / nes_best['rate']:9,.0f}x wall   "
              f"{r['cpu_rate'] / nes_best_cpu['cpu_rate']:9,.0f}x per CPU-second")


if __name__ == "__main__":
    main()
