"""Ray sweeps (hydra/launcher=ray): the preset, the one-line error without the plugin, a real sweep with it.

hydra-ray-launcher (pyproject's `ray` extra) pins cloudpickle<3, so it lives in an environment of
its own: in the main one (CI) these tests check the preset and the error a user meets; in .venv-ray
(README, "Sweeps": checked by hand) they run a sweep through a Ray started on this machine.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, cli

HAVE_PLUGIN = importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None
TINY = ["trainer.total_steps=2048", "trainer.eval_every=1024", "env.eval_episodes=2", "agent.n_steps=32",
        "agent.batch_size=256", "trainer.checkpoint_every=0", "wandb.mode=disabled"]


def test_ray_launcher_preset_composes() -> None:
    proc = cli(["hydra/launcher=ray", "hydra.launcher.ray.init.address=auto", "--cfg", "hydra"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    launcher = yaml.safe_load(proc.stdout)["hydra"]["launcher"]
    assert launcher["_target_"] == "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
    assert launcher["ray"]["init"]["address"] == "auto"
    assert launcher["ray"]["remote"]["num_cpus"] == 1 and launcher["ray"]["remote"]["max_calls"] == 1


@pytest.mark.skipif(HAVE_PLUGIN, reason="hydra-ray-launcher is installed here: the error is for environments without it")
def test_ray_sweep_without_the_plugin_fails_with_one_line(tmp_path: Path) -> None:
    proc = cli(["-m", "hydra/launcher=ray", "agent=ppo", "env=cartpole", "seed=0,1", f"hydra.sweep.dir={tmp_path}",
                *TINY], timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("lab: error: hydra/launcher=ray needs the launcher plugin hydra-ray-launcher")
    assert '".[ray]"' in lines[0] and ".venv-ray" in lines[0]
    assert not any(tmp_path.iterdir())  # nothing ran


@pytest.mark.skipif(not HAVE_PLUGIN, reason="hydra-ray-launcher not installed (the `ray` extra: run this file "
                                            "with .venv-ray/bin/python, README 'Sweeps')")
def test_ray_launcher_runs_the_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a Ray started here, not one the environment points at
    sweep = tmp_path / "sweep"
    proc = cli(["-m", "hydra/launcher=ray", "agent=ppo", "env=cartpole", "seed=0,1", f"hydra.sweep.dir={sweep}",
                "++hydra.launcher.ray.init.include_dashboard=false", *TINY], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Ray Launcher is launching 2 jobs" in proc.stdout + proc.stderr  # Hydra's log: through Ray
    assert "2 of 2 jobs completed" in proc.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0_ppo_cartpole", "1_ppo_cartpole"]
    results = [json.loads((p / "result.json").read_text()) for p in jobs]
    assert all(r["completed"] for r in results)
    report = subprocess.run([sys.executable, "-m", "lab.report", str(sweep)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert report.returncode == 0, report.stderr
    rows = list(csv.DictReader(open(sweep / "report.csv")))
    assert len(rows) == 1 and rows[0]["completed"] == "2" and rows[0]["failed"] == "0"
