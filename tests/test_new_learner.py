"""A new kind of learner is one file and one config file (issue 14, item 2).

The test writes both outside lab/, agents/ and envs/ (into tmp_path): a module with its schema
(`CONFIG`), `build(source, cfg, device, seeds)` and a `Learner`, and conf/agent/<name>.yaml naming the
module in `learner:`. It trains from the CLI (found through hydra.searchpath and PYTHONPATH, the
README's documented way) and from `lab.train`, with no other edit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

TOY = '''
"""A toy learner: the mean of a dataset, by gradient descent (the smallest thing that learns)."""
from dataclasses import dataclass
from typing import ClassVar

import torch

from lab.core.config import spec
from lab.core.learner import Evaluation, Learner, Phase


@dataclass
class MeanConfig:
    learns_from: ClassVar[tuple[str, ...]] = ("data",)

    learner: str = "toy_mean"
    name: str = "toy_mean"
    lr: float = spec(0.05, gt=0)
    batch_size: int = spec(256, gt=0)


class MeanLearner(Learner):
    step_unit = "batches"

    def __init__(self, source, cfg, device, seeds):
        self.cfg, self.source = cfg, source
        self.mu = torch.nn.Parameter(torch.zeros(source.shape))
        self.opt = torch.optim.SGD([self.mu], lr=cfg.lr)
        self.gen = seeds.torch("toy/batches")  # its own stream of the run seed
        self.target = source.sample(20_000, seeds.torch("toy/target"))[0].mean(0)
        self.last = 0.0

    def phases(self):
        return [Phase("fit", self.opt, [self.mu])]

    def modules(self):
        return {}

    def collect(self, source):
        return source.sample(self.cfg.batch_size, self.gen)[0], 1

    def losses(self, phase, batch):
        loss = ((batch - self.mu) ** 2).sum(1).mean()
        self.last = float(loss.detach())
        yield loss

    def evaluate(self, source):
        distance = float((self.mu.detach() - self.target).norm())
        return Evaluation({"distance": distance}, score="distance", higher_is_better=False,
                          summary=f"distance to the data mean {distance:.4f}")

    def log_metrics(self):
        return {"loss/fit": self.last}

    def show(self, source, out_dir, seed):
        # what watching it shows: its estimate beside a fresh draw of the data (seeded)
        out_dir.mkdir(parents=True, exist_ok=True)
        draw = source.sample(5, torch.Generator().manual_seed(seed))[0].mean(0)
        path = out_dir / "mean.txt"
        path.write_text(f"estimate {self.mu.detach().tolist()} sample mean {draw.tolist()}\\n")
        return [path]

    def state_dict(self):
        return {"mu": self.mu.detach().clone(), "gen": self.gen.get_state()}

    def load_state_dict(self, state):
        with torch.no_grad():
            self.mu.copy_(state["mu"])
        self.gen.set_state(state["gen"])


CONFIG = MeanConfig


def build(source, cfg, device, seeds):
    if getattr(source, "kind", None) != "points":
        raise ValueError("toy_mean learns from 2-D points (data=ring8 or grid25)")
    return MeanLearner(source, cfg, device, seeds)
'''

TOY_YAML = '''
# The toy learner of tests/test_new_learner.py: its module and its values.
defaults:
  - /schema/agent/toy_mean@_here_
  - _self_
learner: toy_mean
name: toy_mean
lr: 0.1
'''

RUN = ["agent=toy_mean", "env=none", "data=grid25", "trainer.total_steps=300", "trainer.eval_every=50",
       "trainer.stop_at=0.02", "wandb.mode=disabled", "trainer.video_every=0"]


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "toy_mean.py").write_text(textwrap.dedent(TOY))
    (tmp_path / "conf" / "agent").mkdir(parents=True)
    (tmp_path / "conf" / "agent" / "toy_mean.yaml").write_text(textwrap.dedent(TOY_YAML))
    return tmp_path


def _searchpath(toy: Path) -> str:
    return f"hydra.searchpath=[file://{toy / 'conf'}]"


def test_a_new_learner_trains_from_the_cli(toy: Path) -> None:
    run_dir = toy / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(toy / "pkg"), str(ROOT)]), "WANDB_SILENT": "true"}
    proc = subprocess.run([sys.executable, "-m", "lab", *RUN, _searchpath(toy), f"hydra.run.dir={run_dir}"],
                          cwd=toy, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((run_dir / "result.json").read_text())
    # it learned: the score it names (lower is better) reached trainer.stop_at, so the run stopped
    assert result["status"] == "solved" and result["score"] == "distance"
    assert result["final"]["distance"] <= 0.02 < json.loads(
        (run_dir / "metrics.jsonl").read_text().splitlines()[0]).get("eval/distance", 1.0)
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    assert "distance to the data mean" in proc.stderr
    # and it can be watched: lab.watch rebuilds it from its checkpoint and calls its show(), once
    # the module a run directory names is trusted (a run read back may come from anywhere: lab/safety.py)
    watch = [sys.executable, "-m", "lab.watch", str(run_dir), "--seed", "5", "--json"]
    refused = subprocess.run(watch, cwd=toy, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "LAB_TRUSTED_MODULES=toy_mean" in refused.stderr
    watched = subprocess.run(watch, cwd=toy, env={**env, "LAB_TRUSTED_MODULES": "toy_mean"},
                             capture_output=True, text=True, timeout=300)
    assert watched.returncode == 0, watched.stderr[-2000:]
    files = json.loads(watched.stdout)["files"]
    assert [Path(f).name for f in files] == ["mean.txt"] and Path(files[0]).read_text().startswith("estimate")
    # a bad override of the new learner's own keys fails like any other, in one line
    bad = subprocess.run([sys.executable, "-m", "lab", *RUN, _searchpath(toy), "agent.lrr=1"],
                         cwd=toy, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("lab: error: unknown key 'agent.lrr' (did you mean 'lr'?); "
                                  "valid keys in agent: learner, name, lr, batch_size")


def test_a_new_learner_trains_from_lab_train(toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab import train

    monkeypatch.syspath_prepend(str(toy / "pkg"))
    monkeypatch.chdir(toy)
    result = train(*RUN, _searchpath(toy), "logger.console=false", run_dir=toy / "api_run")
    assert result.status == "solved" and result.score == "distance"
    assert result.value is not None and result.value <= 0.02 and result.best == result.value
    assert result.run_dir == toy / "api_run" and (result.run_dir / ".hydra" / "config.yaml").is_file()
    saved = (result.run_dir / ".hydra" / "config.yaml").read_text()
    assert "learner: toy_mean" in saved
