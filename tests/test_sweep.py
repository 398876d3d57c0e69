"""Sweeps: grid multirun in parallel, failures reported, reports, submitit, W&B sweep commands, tuning."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import CONF, ROOT, cli

TINY = ["trainer.total_steps=1024", "trainer.eval_every=512", "env.eval_episodes=2", "agent.n_steps=32",
        "agent.batch_size=256", "trainer.checkpoint_every=0", "wandb.mode=disabled"]


def test_grid_sweep_runs_in_parallel_and_report_has_one_row_per_group(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = cli(["-m", "agent=ppo", "env=cartpole", "seed=0,1,2", "agent.lr=1e-3,2e-3", "hydra/launcher=joblib",
                "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}", *TINY], timeout=600)
    assert proc.returncode == 0, proc.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 6 and len({p.name for p in jobs}) == 6  # one directory per job
    assert all(json.loads((p / "result.json").read_text())["completed"] for p in jobs)
    assert "6 of 6 jobs completed" in proc.stderr
    report = subprocess.run([sys.executable, "-m", "lab.report", str(sweep)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert report.returncode == 0, report.stderr
    rows = list(csv.DictReader(open(sweep / "report.csv")))
    assert [r["group"] for r in rows] == ["agent.lr=0.001", "agent.lr=0.002"]
    assert all(r["completed"] == "3" and r["failed"] == "0" for r in rows)
    assert "| agent.lr=0.001 | 3 | 3 | 0 |" in report.stdout
    assert (sweep / "report.png").stat().st_size > 10_000


def test_a_failed_job_does_not_stop_the_others(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = cli(["-m", "agent=ppo", "env=gym", "env.id=CartPole-v1,NoSuchEnv-v0", f"hydra.sweep.dir={sweep}",
                "env.num_envs=8", *TINY], timeout=300)
    assert proc.returncode == 1  # any failed job makes the sweep exit non-zero
    assert "1 of 2 jobs completed" in proc.stderr and "unknown env id 'NoSuchEnv-v0'" in proc.stderr
    results = {p.name: json.loads((p / "result.json").read_text()) for p in sweep.iterdir() if p.is_dir()}
    assert sorted(r["status"] for r in results.values()) == ["completed", "failed"]


def test_submitit_local_launcher_runs_the_sweep(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = cli(["-m", "agent=ppo", "env=cartpole", "seed=0,1", "hydra/launcher=local", f"hydra.sweep.dir={sweep}",
                *TINY], timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    done = [json.loads(p.read_text()) for p in sweep.glob("*/result.json")]
    assert len(done) == 2 and all(r["completed"] for r in done)


def test_slurm_launcher_preset_composes() -> None:
    proc = cli(["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "--cfg", "hydra"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    launcher = yaml.safe_load(proc.stdout)["hydra"]["launcher"]
    assert launcher["_target_"].endswith("SlurmLauncher") and launcher["partition"] == "gpu"
    assert launcher["gpus_per_node"] == 1 and launcher["timeout_min"] > 0


def test_wandb_sweep_command_line_is_a_valid_lab_invocation() -> None:
    from lab.config import register_configs
    from lab.preflight import preflight

    sweep = yaml.safe_load((Path(CONF) / "wandb_sweeps" / "ppo_cartpole.yaml").read_text())
    # what `wandb agent` runs: ${args_no_hyphens} becomes key=value for each sampled parameter
    sampled = {"agent.lr": 0.0012, "agent.n_epochs": 3, "agent.batch_size": 256, "agent.gae_lambda": 0.9, "seed": 1}
    command = []
    for part in sweep["command"]:
        command += [f"{k}={v}" for k, v in sampled.items()] if part == "${args_no_hyphens}" else [part]
    assert command[:3] == ["python", "-m", "lab"]
    register_configs()
    assert preflight(CONF, command[3:]) is None
    assert set(sweep["parameters"]) == set(sampled)


def _tune(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "lab.tune", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_tuning_prunes_survives_a_kill_and_writes_a_usable_preset(tmp_path: Path) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump({
        "overrides": ["agent=ppo", "env=cartpole", "trainer.total_steps=6144", "trainer.eval_every=1024",
                      "env.eval_episodes=2", "trainer.checkpoint_every=0", "wandb.mode=disabled",
                      "trainer.stop_at=null"],
        "metric": "eval/return_mean", "direction": "maximize",
        "pruner": {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 1024},
        "sampler": {"seed": 0, "n_startup_trials": 3},
        "space": {"agent.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
                  "agent.n_epochs": {"type": "int", "low": 1, "high": 4}}}))
    out = tmp_path / "study"
    args = [str(space), "--trials", "8", "--out", str(out), "--workers", "2"]
    first = _tune(args)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(out.glob("trial_*/result.json"))) < 2:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    import optuna

    url = f"sqlite:///{out / 'study.db'}"
    before = len(optuna.load_study(study_name="tiny", storage=url).trials)
    assert before >= 2
    second = _tune(args)
    stdout, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr
    assert "trials done" in stderr
    study = optuna.load_study(study_name="tiny", storage=url)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") + states.count("PRUNED") >= 8  # the same study continued
    assert states.count("PRUNED") >= 1
    # 2 workers on one study: every trial has a directory of its own, none shared or clobbered
    dirs = sorted(out.glob("trial_*"))
    assert len(dirs) == len(study.trials) == len({t.number for t in study.trials})
    preset = out / "agent_env" / "tiny_best.yaml"  # next to the study (tests/test_tune.py: never in conf/)
    text = preset.read_text()
    assert text.startswith("# @package _global_")
    values = yaml.safe_load(text)
    assert values["agent"]["lr"] == pytest.approx(study.best_trial.params["agent.lr"])
    assert values["trainer"]["stop_at"] == 475  # the shipped preset, refined
