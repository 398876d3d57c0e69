"""Shared test helpers: compose the lab's config in-process and run it into tmp_path."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("WANDB_SILENT", "true")

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONF = str(ROOT / "conf")


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from lab.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return hydra_compose("config", overrides=overrides)


QUIET = ["wandb.mode=disabled", "logger.console=false"]


def train(overrides: list[str], run_dir: Path, hooks=None) -> dict:
    """Train in-process like `python -m lab OVERRIDES hydra.run.dir=run_dir`."""
    from lab.run import train as lab_train

    return lab_train(compose(QUIET + overrides), run_dir, overrides=QUIET + overrides, hooks=hooks)


def cli(args: list[str], cwd: Path | None = None, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run `python -m lab ARGS` in a subprocess."""
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=cwd or ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, **kw)


def stop_at(step: int):
    """A trainer hook that interrupts a run (as Ctrl-C would) once it reaches `step`."""
    def hook(trainer) -> None:
        if trainer.step >= step:
            trainer.request_stop("test: interrupted")
    return hook


@pytest.fixture
def tiny_ppo() -> list[str]:
    """A PPO run on CartPole small enough for a smoke test (a few seconds)."""
    return ["agent=ppo", "env=cartpole", "trainer.total_steps=2048", "trainer.eval_every=1024",
            "env.eval_episodes=2", "trainer.checkpoint_every=1024", "trainer.log_every=0"]
