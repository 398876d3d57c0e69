"""What benchmarks/ppo_cartpole.py and dqn_cartpole.py share: the lab and stable-baselines3 run
to the same stopping rule (the first evaluation with a deterministic mean return >= threshold,
every `eval_every` env steps, by the lab's own evaluation routine), seeds alternating who goes
first, and the same summary and results file.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def lab_solve_run(overrides: list[str], seed: int, rule: dict[str, float], time_limit_s: float | None = None) -> dict:
    """Train the lab with `overrides` until solved or out of budget (or past `time_limit_s` of training
    wall time: the trainer's own trainer.time_limit_min, checked after each tick); the final policy's
    20-episode return. `wall_s` and `steps_done`: where the run ended, solved or not."""
    from hydra import compose, initialize_config_dir

    from lab.core import checkpoint
    from lab.config import register_configs
    from lab.run import build_learner, build_source, train

    register_configs()
    overrides = [*overrides, f"seed={seed}", "wandb.mode=disabled", "logger.console=false",
                 f"trainer.eval_every={rule['eval_every']}", f"env.eval_episodes={rule['episodes']}",
                 f"trainer.stop_at={rule['threshold']}", f"trainer.total_steps={rule['budget']}",
                 "trainer.checkpoint_every=0"]
    if time_limit_s is not None:
        overrides.append(f"trainer.time_limit_min={time_limit_s / 60:.6g}")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    run_dir = Path(tempfile.mkdtemp(prefix="bench_lab_"))
    result = train(cfg, run_dir, overrides=overrides)
    solved = result["status"] == "solved"
    # final 20-episode return of the policy the run ended with (the solving policy when solved)
    source = build_source(cfg)
    learner = build_learner(cfg, source, torch.device("cpu"))
    learner.load_state_dict(checkpoint.load(run_dir / "checkpoints" / "last.pt")["learner"])
    final20 = source.evaluate(learner.act, 20).value
    source.close()
    return {"solved": solved, "time_s": result["wall_time_s"] if solved else None,
            "steps": result["steps"] if solved else None, "sps": result["steps"] / result["wall_time_s"],
            "final20": final20, "wall_s": result["wall_time_s"], "steps_done": result["steps"],
            "time_limited": result.get("stop_reason", "").startswith("time limit")}


def sb3_solve_run(model: Any, env_id: str, seed: int, rule: dict[str, float]) -> dict:
    """model.learn() with an evaluation callback that stops at the lab's rule, measured the same way."""
    from stable_baselines3.common.callbacks import BaseCallback

    from envs import make_vec
    from envs.source import RLSource

    evaluator = RLSource(lambda n: make_vec(env_id, n), 1, seed)
    act = lambda obs, first: model.predict(obs, deterministic=True)[0]

    class EvalStop(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval, self.solved_at = rule["eval_every"], None

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                self.next_eval += rule["eval_every"]
                if evaluator.evaluate(act, int(rule["episodes"])).value >= rule["threshold"]:
                    self.solved_at = (self.num_timesteps, time.perf_counter())
                    return False
            return True

    callback = EvalStop()
    start = time.perf_counter()
    model.learn(total_timesteps=int(rule["budget"]), callback=callback)
    end = time.perf_counter()
    solved = callback.solved_at is not None
    steps = callback.solved_at[0] if solved else model.num_timesteps
    elapsed = (callback.solved_at[1] if solved else end) - start
    final20 = evaluator.evaluate(act, 20).value
    evaluator.close()
    return {"solved": solved, "time_s": elapsed if solved else None, "steps": steps if solved else None,
            "sps": steps / elapsed, "final20": final20}


def summarise(rows: list[dict]) -> dict:
    times = [r["time_s"] if r["solved"] else float("inf") for r in rows]
    solved = [r for r in rows if r["solved"]]
    return {"solved": f"{len(solved)}/{len(rows)}", "median_time_s": statistics.median(times),
            "median_steps": statistics.median([r["steps"] for r in solved]) if solved else None,
            "median_sps": statistics.median([r["sps"] for r in rows]),
            "mean_final20": float(np.mean([r["final20"] for r in rows]))}


def run_alternating(lab_run: Callable[[int], dict], sb3_run: Callable[[int], dict],
                    seeds: int) -> tuple[dict[str, list[dict]], dict]:
    """Both learners on seeds 0..seeds-1, alternating who runs first; rows and their summary."""
    torch.set_num_threads(1)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the first Adam imports torch._dynamo: start-up
    import logging

    logging.getLogger("lab.messages").disabled = True
    rows: dict[str, list[dict]] = {"lab": [], "sb3": []}
    for seed in range(seeds):
        order = ("lab", "sb3") if seed % 2 == 0 else ("sb3", "lab")  # alternate who runs first
        for name in order:
            row = (lab_run if name == "lab" else sb3_run)(seed)
            rows[name].append({"seed": seed, **row})
            print(f"{name:4s} seed {seed}: {row}", flush=True)
    summary = {name: summarise(r) for name, r in rows.items()}
    summary["ratio_sb3_over_lab_median_time"] = summary["sb3"]["median_time_s"] / summary["lab"]["median_time_s"]
    return rows, summary


def write_results(out: Path, rows: dict, summary: dict) -> None:
    """Add the versions and machine to the summary, write rows and summary to `out`, print the summary."""
    import gymnasium
    import stable_baselines3

    summary["versions"] = {"python": platform.python_version(), "torch": torch.__version__,
                           "gymnasium": gymnasium.__version__, "stable_baselines3": stable_baselines3.__version__,
                           "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    print(json.dumps(summary, indent=2))
