"""DQN (agents/dqn.py): smoke runs, exact resume, a clear error for continuous actions, learning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli, train

from lab.core import checkpoint as ckpt
from lab.core.rng import Seeds

TINY = ["agent=dqn", "env=cartpole", "env.num_envs=2", "agent.hidden_sizes=[32,32]", "agent.train_freq=32",
        "agent.gradient_steps=8", "agent.learning_starts=256", "agent.target_update_interval=256",
        "agent.buffer_size=2000", "trainer.eval_every=1024", "env.eval_episodes=2",
        "trainer.checkpoint_every=0", "trainer.log_every=0", "trainer.stop_at=null"]
EXTENSIONS = ["agent.double_q=true", "agent.dueling=true", "agent.n_step=3", "agent.prioritized=true",
              "agent.tau=0.5", "agent.loss=mse"]


def _metrics(run_dir: Path) -> list[dict]:
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in l.items() if k != "time_s" and not k.startswith("perf/")} for l in lines]


def _stop_at(step: int):
    def hook(trainer) -> None:
        if trainer.step >= step:
            trainer.request_stop("test: interrupted")
    return hook


@pytest.mark.parametrize("extra", [[], EXTENSIONS], ids=["dqn", "double-dueling-nstep-per-polyak-mse"])
def test_smoke_run_writes_a_run_dir(extra: list[str], tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = train(TINY + extra + ["trainer.total_steps=2048"], run)
    assert result["completed"] and result["steps"] == 2048
    for name in (".hydra/config.yaml", "metrics.jsonl", "result.json", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (run / name).is_file(), name
    lines = _metrics(run)
    assert any("loss/td" in l for l in lines) and any("eval/return_mean" in l for l in lines)
    assert all(np.isfinite(l["loss/td"]) for l in lines if "loss/td" in l)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)  # plain types only
    assert state["learner"]["replay"] is None  # save_replay is off by default
    assert state["learner"]["env_steps"] == 2048


@pytest.mark.parametrize("extra", [[], EXTENSIONS], ids=["dqn", "double-dueling-nstep-per-polyak-mse"])
def test_half_resume_half_equals_one_go(extra: list[str], tmp_path: Path) -> None:
    over = TINY + extra + ["trainer.total_steps=4096", "agent.save_replay=true"]
    one = train(over, tmp_path / "one")
    first = train(over, tmp_path / "two", hooks={"on_tick": [_stop_at(2048)]})
    assert first["status"] == "stopped" and 2048 <= first["steps"] < 4096
    saved = torch.load(tmp_path / "two" / "checkpoints" / "last.pt", weights_only=True)
    assert saved["learner"]["replay"]["frames"].shape[:2] == (1000, 2)
    second = train(over + ["trainer.resume=auto"], tmp_path / "two")
    assert one["completed"] and second["completed"] and one["steps"] == second["steps"]
    s1 = ckpt.load(tmp_path / "one" / "checkpoints" / "last.pt")["learner"]
    s2 = ckpt.load(tmp_path / "two" / "checkpoints" / "last.pt")["learner"]
    for net in ("q", "q_target"):
        for k in s1[net]:
            assert torch.equal(s1[net][k], s2[net][k]), (net, k)
    for k in ("frames", "actions", "rewards", "sampleable"):
        assert torch.equal(s1["replay"][k], s2["replay"][k]), k
    assert s1["updates"] == s2["updates"] > 0
    assert _metrics(tmp_path / "one") == _metrics(tmp_path / "two")
    assert one["final"] == second["final"]


def test_resume_without_the_replay_refills_it_and_continues(tmp_path: Path) -> None:
    over = TINY + ["trainer.total_steps=3072"]
    train(over, tmp_path / "run", hooks={"on_tick": [_stop_at(1536)]})
    result = train(over + ["trainer.resume=auto"], tmp_path / "run")
    assert result["completed"] and result["steps"] == 3072
    lines = _metrics(tmp_path / "run")
    resumed = [l for l in lines if l["step"] > 1536]
    # the first tick after resume holds fewer than learning_starts transitions: no update yet
    assert "loss/td" not in resumed[0] and resumed[0]["train/replay_size"] < 256
    assert any("loss/td" in l for l in resumed)


def test_continuous_actions_are_one_clear_error(tmp_path: Path) -> None:
    from lab.core.errors import LabError

    with pytest.raises(LabError, match="agent=dqn cannot learn Pendulum-v1: DQN needs a Discrete action space"):
        train(["agent=dqn", "env=pendulum", "trainer.total_steps=1000"], tmp_path / "run")
    proc = cli(["agent=dqn", "env=pendulum", "wandb.mode=disabled", f"hydra.run.dir={tmp_path / 'cli'}"],
               timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lab: error: ") and "Discrete" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_epsilon_schedule_and_target_updates() -> None:
    import gymnasium as gym

    from agents.config import DQNConfig
    from agents.dqn import DQN

    cfg = DQNConfig(schedule_steps=1000, exploration_fraction=0.5, exploration_final_eps=0.1,
                    target_update_interval=100, tau=1.0, learning_starts=0, train_freq=10, hidden_sizes=[8])
    obs_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    dqn = DQN(obs_space, gym.spaces.Discrete(2), 4, cfg, torch.device("cpu"), Seeds(0))
    for steps, eps in ((0, 1.0), (250, 0.55), (500, 0.1), (900, 0.1)):
        dqn.env_steps = steps
        assert dqn.epsilon() == pytest.approx(eps)

    class Source:  # 4 envs that never end
        obs = np.zeros((4, 3), np.float32)

        def step(self, actions):
            return self.obs, np.ones(4), np.zeros(4, bool), np.zeros(4, bool), np.ones(4, bool)

    dqn.env_steps = 0
    with torch.no_grad():
        for p in dqn.q.parameters():
            p.add_(1.0)
    _, n = dqn.collect(Source())          # 40 env steps: no multiple of 100 crossed yet
    assert n == 40 and not torch.equal(dqn.q.head.weight, dqn.q_target.head.weight)
    dqn.collect(Source()), dqn.collect(Source())  # 120 steps: crossed 100, the target is copied
    assert torch.equal(dqn.q.head.weight, dqn.q_target.head.weight)
    assert dqn.replay.size == 4 * 29      # 30 rows, the newest one not yet complete


@pytest.mark.slow
def test_dqn_solves_cartpole_with_the_preset_for_five_seeds(tmp_path: Path) -> None:
    for seed in range(5):
        result = train(["agent=dqn", "env=cartpole", f"seed={seed}"], tmp_path / f"seed{seed}")
        assert result["status"] == "solved", (seed, result)
        assert result["final"]["return_mean"] >= 475
