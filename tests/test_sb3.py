"""The stable-baselines3 backend runs through the same CLI, run directory, checkpoints and resume,
and keeps to the run's budget (trainer.total_steps) as the lab's own learners do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import stop_at as _stop_at, train

from agents.sb3 import fit_rollout
from lab.core import checkpoint as ckpt
from lab.core.errors import LabError


@pytest.mark.parametrize("agent,env,extra", [
    ("sb3_ppo", "cartpole", []),
    ("sb3_a2c", "cartpole", []),
    ("sb3_dqn", "cartpole", ["agent.save_replay=true", "agent.hyperparams.learning_starts=100"]),
    # SAC takes a gradient step per env step: a shorter run keeps the test quick
    ("sb3_sac", "pendulum", ["+agent.hyperparams.learning_starts=100", "trainer.total_steps=512",
                             "trainer.eval_every=256", "agent.chunk_steps=128"]),
    # sb3-contrib's RecurrentPPO with rl-zoo's preset (VecNormalize): its LSTM is slow, so fewer epochs
    ("sb3_recurrent_ppo", "cartpole_novel", ["agent.hyperparams.n_epochs=2", "trainer.total_steps=1024",
                                             "trainer.eval_every=512", "agent.chunk_steps=256"]),
])
def test_sb3_agent_trains_checkpoints_and_resumes(agent: str, env: str, extra: list[str], tmp_path: Path) -> None:
    over = [f"agent={agent}", f"env={env}", "trainer.total_steps=2048", "trainer.eval_every=1024",
            "env.eval_episodes=2", "trainer.stop_at=null", "agent.chunk_steps=512", *extra]
    total = int([o for o in over if o.startswith("trainer.total_steps=")][-1].split("=")[1])
    first = train(over, tmp_path / "run", hooks={"on_tick": [_stop_at(total // 2)]})
    assert first["status"] == "stopped"
    state = ckpt.load(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["learner"]["num_timesteps"] == first["steps"]
    if "agent.save_replay=true" in extra:
        assert state["learner"]["replay_pos"][0] > 0
    if agent == "sb3_recurrent_ppo":  # VecNormalize's statistics travel with the checkpoint
        assert state["learner"]["normalize"]["obs"]["count"] > first["steps"] // 2
    second = train(over + ["trainer.resume=auto"], tmp_path / "run")
    assert second["completed"] and second["steps"] >= total
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/return_mean" in l for l in lines)
    last = ckpt.load(tmp_path / "run" / "checkpoints" / "last.pt")
    assert last["learner"]["num_timesteps"] == second["steps"]
    assert all(torch.isfinite(v).all() for v in last["learner"]["parameters"]["policy"].values())


@pytest.mark.parametrize("agent,env,needs", [("sb3_dqn", "pendulum", "Discrete"), ("sb3_sac", "cartpole", "Box"),
                                             ("sb3_recurrent_ppo agent.policy=MlpPolicy", "cartpole", "MlpLstmPolicy"),
                                             ("sb3_ppo agent.policy=MlpLstmPolicy", "cartpole", "RecurrentPPO")])
def test_sb3_wrong_action_space_is_one_clear_error(agent: str, env: str, needs: str, tmp_path: Path) -> None:
    with pytest.raises(LabError, match=needs):
        train([f"agent={agent.split()[0]}", f"env={env}", *agent.split()[1:]], tmp_path / "run")


@pytest.mark.parametrize("n_steps,num_envs,batch_size,budget,expected", [
    (2048, 256, 64, 4096, (16, 64)),    # SB3's default rollout on env=mario: 524,288 steps -> 4,096
    (2048, 256, 64, 5000, (20, 64)),    # ceil(5000 / 256) = 20: 5,120 steps, within one vector step
    (32, 8, 256, 100, (13, 104)),       # 13 x 8 = 104 < batch 256: the whole rollout is one minibatch
    (2048, 1, 64, 1000, (1000, 50)),    # 64 does not divide 1000; 50 is its largest divisor <= 64
    (2048, 1, 64, 97, (97, 97)),        # a prime rollout: one minibatch rather than minibatches of 1
    (128, 8, 64, 2048, (128, 64)),      # 1,024 fits 2,048: left as it is
    (5, 256, None, 1000, (4, None)),    # A2C (no minibatches): 4 x 256 = 1,024
    (2048, 1, 64, 1, (2, 2)),           # SB3's PPO needs a rollout of 2
])
def test_fit_rollout(n_steps: int, num_envs: int, batch_size: int | None, budget: int, expected: tuple) -> None:
    assert fit_rollout(n_steps, num_envs, batch_size, budget) == expected


@pytest.mark.parametrize("total,steps", [(4096, 4096), (5000, 5120)])
def test_sb3_ppo_keeps_to_the_budget_with_many_envs(total: int, steps: int, tmp_path: Path) -> None:
    # SB3's default n_steps 2048 x env=mario's 256 envs made one rollout 524,288 steps, whatever the budget
    result = train(["agent=sb3_ppo", "env=mario", f"trainer.total_steps={total}", "env.eval_episodes=2",
                    "trainer.video_every=0"], tmp_path / "run")
    assert result["completed"] and result["steps"] == steps and steps < total + 256  # within one vector step
    assert ckpt.load(tmp_path / "run" / "checkpoints" / "last.pt")["learner"]["num_timesteps"] == steps  # SB3's own
    log = (tmp_path / "run" / "train.log").read_text()
    assert f"agent=sb3_ppo: n_steps 2048 -> {steps // 256} so one rollout ({steps // 256} x 256 envs" in log


def test_sb3_a2c_and_dqn_end_within_one_rollout_of_the_budget(tmp_path: Path) -> None:
    # A2C: rollouts of 5 x 256 = 1,280 fit 4,096; ticks of 2 rollouts (chunk 2,048 -> 2,560), the last
    # asks for the 1,536 left: 2 rollouts, 5,120 in all (the lab's PPO also ends on a whole rollout)
    result = train(["agent=sb3_a2c", "env=mario", "trainer.total_steps=4096", "env.eval_episodes=2",
                    "trainer.video_every=0"], tmp_path / "a2c")
    assert result["steps"] == 5120
    assert "agent.chunk_steps 2,048 -> 2,560 (whole rollouts of 1,280 env steps)" in (tmp_path / "a2c" / "train.log").read_text()
    # DQN collects train_freq x num_envs = 32 steps at a time: 4 collections cover 100 (the lab's DQN ticks alike)
    result = train(["agent=sb3_dqn", "env=cartpole", "env.num_envs=8", "agent.hyperparams.train_freq=4",
                    "trainer.total_steps=100", "env.eval_episodes=2"], tmp_path / "dqn")
    assert result["steps"] == 128
    assert ckpt.load(tmp_path / "dqn" / "checkpoints" / "last.pt")["learner"]["num_timesteps"] == 128


def test_sb3_budget_below_one_step_of_all_envs_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabError) as err:
        train(["agent=sb3_ppo", "env=mario", "trainer.total_steps=100"], tmp_path / "run")
    message = str(err.value)
    assert "trainer.total_steps=100 is less than one step of env.num_envs=256 envs" in message and "\n" not in message


@pytest.mark.slow
def test_sb3_ppo_solves_cartpole_with_the_zoo_preset(tmp_path: Path) -> None:
    result = train(["agent=sb3_ppo", "env=cartpole", "seed=0", "trainer.checkpoint_every=0"], tmp_path / "run")
    assert result["final"]["return_mean"] >= 475
