"""trainer.distributed=ddp: torchrun processes on CPU (gloo) train a GAN as one process would.

Every process draws the same global batch and keeps its share; gradients are averaged, so a
2-process run must follow a 1-process run with the same global batch. The curves agree to float
summation order at first and drift slowly (a GAN amplifies rounding), hence the short runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import QUIET, ROOT, cli

from lab.core import checkpoint as ckpt


def torchrun(args: list[str], nproc: int = 2, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           "-m", "lab", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def losses(run_dir: Path) -> dict[int, tuple[float, float]]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {m["step"]: (m["loss/d"], m["loss/g"]) for m in lines if "loss/d" in m}


# wgan_gp with its paper's defaults (`~agent_data`: without the ring8 preset, whose 5x learning rate
# and 2-D latent make the float summation order of one vs two processes show past the tolerance)
@pytest.mark.parametrize("agent,steps,extra", [("gan", 40, []), ("wgan_gp", 12, ["~agent_data"])])
def test_two_processes_follow_one_with_the_same_global_batch(agent: str, steps: int, extra: list[str],
                                                             tmp_path: Path) -> None:
    """bce on ring8, and WGAN-GP (its gradient penalty takes second-order gradients)."""
    args = [f"agent={agent}", "data=ring8", *extra, f"trainer.total_steps={steps}", "trainer.eval_every=0",
            "trainer.log_every=0", "agent.batch_size=64", *QUIET]
    one = cli([*args, f"hydra.run.dir={tmp_path / 'one'}"], timeout=240)
    assert one.returncode == 0, one.stderr[-2000:]
    two = torchrun([*args, "trainer.distributed=ddp", f"hydra.run.dir={tmp_path / 'two'}"])
    assert two.returncode == 0, two.stderr[-3000:]

    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert sorted(a) == sorted(b) == list(range(1, steps + 1))  # one line per step, once (rank 0 logs)
    for step in a:
        assert a[step] == pytest.approx(b[step], rel=1e-3, abs=1e-3), step
    result = json.loads((tmp_path / "two" / "result.json").read_text())
    assert result["completed"] and result["steps"] == steps
    one_final = json.loads((tmp_path / "one" / "result.json").read_text())["final"]
    assert result["final"]["modes"] == one_final["modes"]
    # rank 0 wrote the checkpoint the same way a one-process run does; it resumes anywhere
    state = ckpt.load(tmp_path / "two" / "checkpoints" / "last.pt")
    assert state["step"] == steps and "generator" in str(list(state["learner"]))


def test_ddp_outside_torchrun_is_one_clear_line(tmp_path: Path) -> None:
    proc = cli(["agent=gan", "data=ring8", "trainer.distributed=ddp", "trainer.total_steps=4", *QUIET,
                f"hydra.run.dir={tmp_path / 'run'}"], timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "lab: error: trainer.distributed=ddp needs the processes torchrun starts: "
        "torchrun --standalone --nproc-per-node=2 -m lab ... trainer.distributed=ddp")
