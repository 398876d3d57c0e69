"""Kill loops: SIGKILL a training run at random moments, some of them in the middle of a
checkpoint write, resume each time with trainer.resume=auto, and check what a researcher on a
pre-emptible cluster relies on:

- the newest checkpoint always loads (a kill mid-write leaves the old file, never half a file);
- at most one checkpoint interval of progress is lost;
- counters and the W&B run id continue across lives;
- the finished run equals an uninterrupted one (where resume is exact: the lab's learners on CPU).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import QUIET, ROOT

from lab.core import checkpoint as ckpt

KILLS = 10

# learner kind -> (overrides, steps per checkpoint interval (whole ticks), does resume reproduce the
# run exactly). Each life is killed within two intervals of where the previous one stopped, so
# ten kills fit in the step budgets below on any machine, fast or loaded.
KINDS = {
    "ppo": (["agent=ppo", "env=cartpole", "trainer.total_steps=100000", "trainer.eval_every=50000",
             "env.eval_episodes=3", "trainer.stop_at=null"], 4096, True),
    "ppo_lstm": (["agent=ppo", "env=cartpole_novel", "agent.n_epochs=2", "trainer.total_steps=40960",
                  "trainer.eval_every=20480", "env.eval_episodes=3", "trainer.stop_at=null"], 1024, True),
    "dqn": (["agent=dqn", "env=cartpole", "trainer.total_steps=12288", "trainer.eval_every=6144",
             "env.eval_episodes=3", "trainer.stop_at=null", "agent.save_replay=true"], 512, True),
    "sb3": (["agent=sb3_ppo", "env=cartpole", "trainer.total_steps=24576", "trainer.eval_every=12288",
             "env.eval_episodes=3", "trainer.stop_at=null", "agent.chunk_steps=512"], 1024, False),
    "gan": (["agent=gan", "data=ring8", "trainer.total_steps=1200", "trainer.eval_every=600",
             "agent.eval_samples=500"], 50, True),
}


def launch(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "lab", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def progress(run: Path) -> int:
    """The last step the run logged (log_every=0: every tick)."""
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return max((json.loads(line)["step"] for line in lines if line.strip().endswith("}")), default=0)


def temps(run: Path) -> list[Path]:
    return list((run / "checkpoints").glob(".*.pt.*.tmp")) if (run / "checkpoints").is_dir() else []


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 120, poll: float = 0.02) -> bool:
    """Poll until predicate() holds (True) or the process ends (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    raise TimeoutError("the run neither progressed nor ended")


def weights(run: Path) -> dict[str, torch.Tensor]:
    learner = ckpt.load(run / "checkpoints" / "last.pt")["learner"]
    flat: dict[str, torch.Tensor] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, torch.Tensor):
            flat[prefix] = node
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}.{k}")
    walk(learner, "")
    return flat


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_random_sigkills_lose_at_most_one_interval_and_resume_exactly(kind: str, tmp_path: Path) -> None:
    overrides, interval, exact = KINDS[kind]
    args = [*QUIET, *overrides, f"trainer.checkpoint_every={interval}", "trainer.log_every=0",
            "trainer.video_every=0"]
    run = tmp_path / "run"
    rng = random.Random(f"kill-{kind}")
    kills = mid_write = 0
    wandb_id, last_saved = None, 0
    while kills < KILLS:
        start = progress(run)
        proc = launch([*args, f"hydra.run.dir={run}", "trainer.resume=auto"])
        # Every third life is killed the moment a checkpoint write is under way; the others at a
        # random step between where the last life stopped and two checkpoint intervals later.
        if kills % 3 == 0:
            alive = wait_for(lambda: bool(temps(run)), proc, poll=0.0005)
        else:
            target = start + rng.randint(1, 2 * interval)
            alive = wait_for(lambda: progress(run) >= target, proc, poll=0.005)
        if not alive or proc.poll() is not None:
            break  # the run finished before this kill: fewer lives than planned (checked below)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reached = progress(run)  # what the killed life had done
        kills += 1
        mid_write += bool(temps(run))

        last = run / "checkpoints" / "last.pt"
        if not last.exists() and not last.with_name("prev.pt").exists():
            continue  # killed before its first checkpoint: resume=auto starts over
        state, path, _ = ckpt.load_for_resume(last)  # the newest checkpoint always loads
        assert path == last, f"kill {kills}: fell back to {path}"
        assert reached - state["step"] <= interval, (kills, reached, state["step"])  # intervals are whole ticks
        assert state["step"] >= last_saved  # counters never go back
        last_saved = state["step"]
        wandb_id = wandb_id or state["wandb_id"]
        assert state["wandb_id"] == wandb_id  # the same W&B run, continued

    assert kills == KILLS, f"the run finished after only {kills} kills; make it longer"
    assert mid_write >= 1, "no kill landed during a checkpoint write"
    final = launch([*args, f"hydra.run.dir={run}", "trainer.resume=auto"])
    _, err = final.communicate(timeout=600)
    assert final.returncode == 0, err[-2000:]
    assert not temps(run)  # the partial writes were cleaned up
    result = json.loads((run / "result.json").read_text())
    assert result["completed"]
    assert ckpt.load(run / "checkpoints" / "last.pt")["wandb_id"] == wandb_id
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # one line per step: what a killed life logged past its checkpoint is replaced

    if exact:
        ref = launch([*args, f"hydra.run.dir={tmp_path / 'ref'}"])
        _, err = ref.communicate(timeout=600)
        assert ref.returncode == 0, err[-2000:]
        assert json.loads((tmp_path / "ref" / "result.json").read_text())["final"] == result["final"]
        w1, w2 = weights(tmp_path / "ref"), weights(run)
        assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)
