"""The stable-baselines3 backend runs through the same CLI, run directory, checkpoints and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import stop_at as _stop_at, train

from lab import checkpoint as ckpt
from lab.errors import LabError


@pytest.mark.parametrize("agent,env,extra", [
    ("sb3_ppo", "cartpole", []),
    ("sb3_a2c", "cartpole", []),
    ("sb3_dqn", "cartpole", ["agent.save_replay=true", "agent.hyperparams.learning_starts=100"]),
    # SAC takes a gradient step per env step: a shorter run keeps the test quick
    ("sb3_sac", "pendulum", ["+agent.hyperparams.learning_starts=100", "trainer.total_steps=512",
                             "trainer.eval_every=256", "agent.chunk_steps=128"]),
])
def test_sb3_agent_trains_checkpoints_and_resumes(agent: str, env: str, extra: list[str], tmp_path: Path) -> None:
    over = [f"agent={agent}", f"env={env}", "trainer.total_steps=2048", "trainer.eval_every=1024",
            "trainer.eval_episodes=2", "trainer.stop_return=null", "agent.chunk_steps=512", *extra]
    total = int([o for o in over if o.startswith("trainer.total_steps=")][-1].split("=")[1])
    first = train(over, tmp_path / "run", hooks={"on_tick": [_stop_at(total // 2)]})
    assert first["status"] == "stopped"
    state = ckpt.load(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["learner"]["num_timesteps"] == first["steps"]
    if "agent.save_replay=true" in extra:
        assert state["learner"]["replay_pos"][0] > 0
    second = train(over + ["trainer.resume=auto"], tmp_path / "run")
    assert second["completed"] and second["steps"] >= total
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/return_mean" in l for l in lines)
    last = ckpt.load(tmp_path / "run" / "checkpoints" / "last.pt")
    assert last["learner"]["num_timesteps"] == second["steps"]
    assert all(torch.isfinite(v).all() for v in last["learner"]["parameters"]["policy"].values())


@pytest.mark.parametrize("agent,env,needs", [("sb3_dqn", "pendulum", "Discrete"), ("sb3_sac", "cartpole", "Box")])
def test_sb3_wrong_action_space_is_one_clear_error(agent: str, env: str, needs: str, tmp_path: Path) -> None:
    with pytest.raises(LabError, match=needs):
        train([f"agent={agent}", f"env={env}"], tmp_path / "run")


@pytest.mark.slow
def test_sb3_ppo_solves_cartpole_with_the_zoo_preset(tmp_path: Path) -> None:
    result = train(["agent=sb3_ppo", "env=cartpole", "seed=0", "trainer.checkpoint_every=0"], tmp_path / "run")
    assert result["final"]["return_mean"] >= 475
