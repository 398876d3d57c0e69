"""Train the lab's PPO presets and report the final evaluation (LunarLander-v3 must reach >= 200).

    python benchmarks/ppo_presets.py lunarlander acrobot pendulum --seeds 1
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("envs", nargs="+")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--eval-episodes", type=int, default=20)
    args = parser.parse_args()
    from hydra import compose, initialize_config_dir

    from lab.config import register_configs
    from lab.run import train

    register_configs()
    out = {}
    for env in args.envs:
        for seed in range(args.seeds):
            overrides = ["agent=ppo", f"env={env}", f"seed={seed}", "wandb.mode=disabled", "logger.console=false",
                         f"env.eval_episodes={args.eval_episodes}"]
            with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
                cfg = compose("config", overrides=overrides)
            t = time.perf_counter()
            result = train(cfg, Path(tempfile.mkdtemp(prefix=f"bench_{env}_")), overrides=overrides)
            row = {"final_return": result["final"]["return_mean"], "final_std": result["final"]["return_std"],
                   "best_return": result["best_eval"], "steps": result["steps"],
                   "wall_s": round(time.perf_counter() - t, 1), "status": result["status"]}
            out[f"{env}/seed{seed}"] = row
            print(env, seed, row, flush=True)
    path = ROOT / "benchmarks" / "out" / "ppo_presets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
