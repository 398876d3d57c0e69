"""Resume and determinism: N steps == N/2 + resume + N/2, bit-identical on CPU; signals; atomic writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import stop_at as _stop_at, QUIET, ROOT, train

from lab.core import checkpoint as ckpt


def _metrics(run_dir: Path) -> list[dict]:
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in l.items() if k != "time_s" and not k.startswith("perf/")} for l in lines]


def _weights(run_dir: Path) -> dict:
    return ckpt.load(run_dir / "checkpoints" / "last.pt")["learner"]["policy"]


@pytest.mark.parametrize("env,extra", [
    ("cartpole", []),                                           # native vector env
    ("acrobot", ["env.num_envs=4", "agent.n_steps=64", "agent.batch_size=64"]),  # sync vector env
    ("pendulum", ["env.num_envs=2", "agent.n_steps=64", "agent.batch_size=64",   # continuous, normalisers
                  "agent.normalize_obs=true", "agent.normalize_reward=true"]),
    ("cartpole_novel", ["agent.n_epochs=2"]),  # the LSTM policy: its state mid-episode is in the checkpoint
    ("mario", ["env.level=procedural", "env.train_levels=0", "env.level_pool=4", "env.level_episodes=2",  # level
               "env.num_envs=16", "agent.n_steps=32", "agent.batch_size=128"]),  # stream: which level, its RNG
])
def test_half_resume_half_equals_one_go(env: str, extra: list[str], tmp_path: Path) -> None:
    over = [f"env={env}", "trainer.total_steps=4096", "trainer.eval_every=1024", "env.eval_episodes=2",
            "trainer.checkpoint_every=0", "trainer.log_every=0", "trainer.stop_at=null", *extra]
    one = train(over, tmp_path / "one")
    first = train(over, tmp_path / "two", hooks={"on_tick": [_stop_at(2048)]})
    assert first["status"] == "stopped" and 2048 <= first["steps"] < 4096
    second = train(over + ["trainer.resume=auto"], tmp_path / "two")
    assert one["completed"] and second["completed"] and one["steps"] == second["steps"]
    w1, w2 = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert w1.keys() == w2.keys()
    for k in w1:
        assert torch.equal(w1[k], w2[k]), k
    assert _metrics(tmp_path / "one") == _metrics(tmp_path / "two")
    assert one["final"] == second["final"]


def test_resume_from_missing_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    from lab.core.errors import LabError

    with pytest.raises(LabError, match="checkpoint not found"):
        train(["trainer.resume=" + str(tmp_path / "nope.pt")], tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_resume_with_a_different_agent_config_is_refused(tmp_path: Path, tiny_ppo) -> None:
    from lab.core.errors import LabError

    train(tiny_ppo, tmp_path / "run")
    with pytest.raises(LabError, match="agent.lr"):
        train(tiny_ppo + ["agent.lr=0.1", f"trainer.resume={tmp_path / 'run'}"], tmp_path / "other")


def test_a_finished_run_directory_is_not_overwritten(tmp_path: Path, tiny_ppo) -> None:
    from lab.core.errors import LabError

    train(tiny_ppo, tmp_path / "run")
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    with pytest.raises(LabError, match="already holds a run"):
        train(tiny_ppo, tmp_path / "run")
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    ckpt.save({"step": 1}, path)

    def explode(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(OSError):
        ckpt.save({"step": 2}, path)
    monkeypatch.undo()
    assert ckpt.load(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def _popen(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "lab", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError


LONG = QUIET + ["trainer.total_steps=40000", "trainer.eval_every=0", "trainer.checkpoint_every=2048",
                "trainer.log_every=0", "trainer.stop_at=null"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_exits_cleanly(sig: int, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _popen(LONG + ["trainer.checkpoint_every=0", f"hydra.run.dir={run}"])
    _wait_for(lambda: (run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text().count("\n") >= 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "stopped" and "received" in result["stop_reason"]
    state = ckpt.load(run / "checkpoints" / "last.pt")
    assert state["step"] == result["steps"] > 0


def test_time_limit_stops_with_a_checkpoint(tmp_path: Path) -> None:
    # benchmarks/recurrent_cartpole.py caps a contestant's wall time with trainer.time_limit_min
    result = train(["env=cartpole", "trainer.total_steps=40000", "trainer.eval_every=0", "trainer.log_every=0",
                    "trainer.checkpoint_every=0", "trainer.stop_at=null", "trainer.time_limit_min=1e-6"],
                   tmp_path / "run")
    assert result["status"] == "stopped" and result["stop_reason"].startswith("time limit")
    assert 0 < result["steps"] < 40000
    assert ckpt.load(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == result["steps"]


@pytest.mark.parametrize("learner", [
    ["agent=dqn", "env=cartpole", "agent.save_replay=true"],
    ["agent=sb3_ppo", "env=cartpole", "agent.chunk_steps=1024"],
    ["agent=gan", "data=ring8", "trainer.total_steps=100000", "trainer.checkpoint_every=0"],
], ids=["dqn", "sb3", "gan"])
def test_sigterm_saves_and_exits_cleanly_for_every_learner_kind(learner: list[str], tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _popen([*LONG, "trainer.checkpoint_every=0", *learner, f"hydra.run.dir={run}"])
    _wait_for(lambda: (run / "metrics.jsonl").exists() and (run / "metrics.jsonl").read_text().count("\n") >= 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "stopped" and result["stop_reason"] == "received SIGTERM"
    assert ckpt.load(run / "checkpoints" / "last.pt")["step"] == result["steps"] > 0


# SIGKILL at random moments, resume=auto, equality with an uninterrupted run: tests/test_kill.py


def test_a_corrupt_last_checkpoint_falls_back_to_the_previous_one(tmp_path: Path, tiny_ppo) -> None:
    over = tiny_ppo + ["agent.n_steps=32", "trainer.total_steps=4096", "trainer.checkpoint_every=1024",
                       "trainer.stop_at=null"]
    ref = train(over, tmp_path / "ref")
    first = train(over, tmp_path / "run", hooks={"on_tick": [_stop_at(3072)]})
    ckpts = tmp_path / "run" / "checkpoints"
    assert first["steps"] == 3072 and ckpt.load(ckpts / "prev.pt")["step"] == 2048
    data = (ckpts / "last.pt").read_bytes()
    (ckpts / "last.pt").write_bytes(data[: len(data) // 2])  # a checkpoint cut short
    with pytest.raises(Exception, match="last.pt"):
        ckpt.load(ckpts / "last.pt")
    second = train(over + ["trainer.resume=auto"], tmp_path / "run")
    assert "resuming from the previous checkpoint" in (tmp_path / "run" / "train.log").read_text()
    assert second["completed"] and second["final"] == ref["final"]  # replayed from 2048, exactly
    w1, w2 = _weights(tmp_path / "ref"), _weights(tmp_path / "run")
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert _metrics(tmp_path / "ref") == _metrics(tmp_path / "run")
