"""Recurrent PPO (agent.policy=lstm): the sequence replay reproduces the rollout, states reset
exactly where episodes start, evaluation carries its own state, and bad settings are one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cli

from agents.config import PPOConfig
from agents.ppo import PPO, LSTMCore, segments
from envs import make_vec
from envs.source import RLSource
from lab.core.rng import Seeds


def _ppo(num_envs: int = 4, max_steps: int = 20, **kw) -> tuple[PPO, RLSource]:
    cfg = PPOConfig(**{"policy": "lstm", "lstm_hidden": 8, "hidden_sizes": [8], "n_steps": 64, "batch_size": 64,
                       "n_epochs": 1, **kw})
    source = RLSource(lambda n: make_vec("lab/CartPoleNoVel-v1", n, max_episode_steps=max_steps), num_envs, 0)
    return PPO(source.single_observation_space, source.single_action_space, num_envs, cfg, torch.device("cpu"),
               Seeds(0)), source


@pytest.mark.parametrize("kw", [{}, {"normalize_obs": True}, {"activation": "relu", "ortho_init": False}])
def test_the_sequence_replay_reproduces_the_rollout_step_by_step(kw: dict) -> None:
    """The update's [T, B] replay from the stored initial states gives the log-probabilities and
    values the numpy acting path computed step by step, across episode ends (terminations and
    20-step truncations, NEXT_STEP autoreset) and across rollouts."""
    ppo, source = _ppo(**kw)
    for rollout in range(3):
        with torch.no_grad():
            batch, _ = ppo.collect(source)
            out, value = ppo.policy.forward_seq(batch["obs"], batch["firsts"], (batch["h0"], batch["c0"]))
            T, B = batch["firsts"].shape
            logp, _ = ppo.policy.log_prob_entropy(out.reshape(T * B, -1), batch["actions"].reshape(-1))
        assert batch["firsts"][1:].sum() >= B * 2  # several episodes start inside the rollout
        assert not batch["valid"].all()  # with reset steps in it
        np.testing.assert_allclose(logp.reshape(T, B).numpy(), batch["logprobs"].numpy(), atol=1e-6)
        np.testing.assert_allclose(value.numpy(), batch["values"].numpy(), atol=1e-6)
        assert (batch["h0"] != 0).any() == (rollout > 0)  # later rollouts start from the carried state


def test_the_state_resets_exactly_where_an_episode_starts() -> None:
    torch.manual_seed(0)
    core = LSTMCore(3, 5)
    T, B = 7, 3
    x = torch.randn(T, B, 3)
    h0, c0 = torch.randn(B, 5), torch.randn(B, 5)
    first = torch.zeros(T, B, dtype=torch.bool)
    first[3, 0] = first[0, 1] = first[5, 1] = True
    with torch.no_grad():
        y = core(x, first, (h0, c0))
        for b in range(B):  # each env by itself, step by step, zeroing the state at its episode starts
            h, c = h0[b:b + 1], c0[b:b + 1]
            for t in range(T):
                yt, (h, c) = core.step(x[t, b:b + 1], first[t, b:b + 1], (h, c))
                np.testing.assert_allclose(y[t, b].numpy(), yt[0].numpy(), atol=1e-6)
    # the output after a reset does not depend on anything before it
    x2 = x.clone()
    x2[:3, 0] = torch.randn(3, 3)
    with torch.no_grad():
        y2 = core(x2, first, (torch.randn(B, 5), c0))
    np.testing.assert_array_equal(y2[3:, 0].numpy(), y[3:, 0].numpy())
    np.testing.assert_array_equal(y2[:, 1].numpy(), y[:, 1].numpy())  # env 1 starts an episode at t=0


def test_segments_cut_each_env_at_its_episode_starts() -> None:
    first = np.array([[0, 1], [1, 0], [0, 0], [0, 1]], dtype=bool)  # T=4, B=2
    seg = segments(first)
    # env 0: [0], [1, 2, 3] (starts from the stored state, then from zero); env 1: [0, 1, 2], [3]
    assert seg["gather"].shape == (3, 4)
    assert seg["init"].tolist() == [0, 2, 2, 2]  # only env 0's first segment continues a stored state
    flat = seg["gather"].T.tolist()
    assert flat == [[0, 8, 8], [2, 4, 6], [1, 3, 5], [7, 8, 8]]  # indices t * B + b; 8 = padding
    # every input step comes back from exactly its padded slot
    assert sorted(seg["scatter"].tolist()) == sorted(set(seg["scatter"].tolist()))
    for i, j in enumerate(seg["scatter"]):
        assert seg["gather"].reshape(-1)[j] == i


def test_numpy_acting_matches_the_torch_step() -> None:
    torch.manual_seed(1)
    core = LSTMCore(4, 6)
    x = torch.randn(5, 4)
    first = torch.tensor([True, False, False, True, False])
    h, c = torch.randn(5, 6), torch.randn(5, 6)
    with torch.no_grad():
        y, (h1, c1) = core.step(x, first, (h, c))
    hn, cn = core.numpy_step(x.numpy(), first.numpy(), h.numpy(), c.numpy())
    np.testing.assert_allclose(hn, h1.numpy(), atol=1e-6)
    np.testing.assert_allclose(cn, c1.numpy(), atol=1e-6)
    np.testing.assert_allclose(hn, y.numpy(), atol=1e-6)


def test_evaluation_carries_a_state_per_eval_env_apart_from_training() -> None:
    ppo, source = _ppo(num_envs=2)
    with torch.no_grad():
        ppo.collect(source)
    before = tuple(s.copy() for s in ppo.state)
    first = ppo.evaluate(source).metrics
    again = ppo.evaluate(source).metrics
    assert first == again  # each evaluation starts its envs from a zero state, fixed seeds
    for a, b in zip(before, ppo.state):
        np.testing.assert_array_equal(a, b)  # the training envs' state is untouched


def test_a_recurrent_policy_needs_memory_where_velocities_are_hidden() -> None:
    """Without the velocities, the LSTM's state is what the policy acts on: the same observation
    gets different outputs after different histories."""
    ppo, _ = _ppo(num_envs=1)
    act = ppo.actor(deterministic=True)
    obs = np.zeros((1, 2), np.float32)
    core = ppo.policy.core
    h1 = core.numpy_step(np.array([[0.5, 0.1]], np.float32), np.array([True]), *ppo.policy.initial_state(1))
    h2 = core.numpy_step(np.array([[-0.5, -0.1]], np.float32), np.array([True]), *ppo.policy.initial_state(1))
    y1 = core.numpy_step(obs, np.array([False]), *h1)[0]
    y2 = core.numpy_step(obs, np.array([False]), *h2)[0]
    assert np.abs(y1 - y2).max() > 1e-3
    assert act(obs, np.array([True])).shape == (1,)


@pytest.mark.parametrize("args,expected", [
    (["agent=dqn", "agent.policy=lstm"], "agent.policy"),
    (["agent=gan", "agent.policy=lstm"], "agent.policy"),
    (["agent=ppo", "env=mario", "env.obs=pixels", "agent.policy=grid_lstm"], "policy=grid_lstm needs uint8 grids"),
])
def test_lstm_with_an_agent_that_cannot_use_it_is_one_line(args: list[str], expected: str | None, tmp_path) -> None:
    proc = cli([*args, "trainer.total_steps=64", "wandb.mode=disabled", f"hydra.run.dir={tmp_path / 'run'}"])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lab: error: "), proc.stderr
    if expected:
        assert expected in lines[0]


def test_watch_replays_a_recurrent_runs_own_evaluation(tmp_path) -> None:
    """lab.watch rebuilds the LSTM policy and gives each eval env its own state: the same returns
    as the run's final evaluation, episode for episode."""
    import json
    import subprocess
    import sys

    from conftest import ROOT, train

    run = tmp_path / "run"
    train(["agent=ppo", "env=cartpole_novel", "agent.n_epochs=2", "trainer.total_steps=4096",
           "trainer.eval_every=2048", "env.eval_episodes=4", "trainer.stop_at=null", "trainer.log_every=0"], run)
    env = {"PYTHONPATH": str(ROOT), "WANDB_SILENT": "true", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "lab.watch", str(run), "--checkpoint", "last", "--episodes", "4",
                           "--json", "--no-video"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    final = json.loads((run / "result.json").read_text())["final"]
    assert out["return_mean"] == final["return_mean"] and len(out["episodes"]) == 4


@pytest.mark.parametrize("extra", [
    ["env=mario", "agent.policy=grid_lstm", "env.num_envs=4"],                       # tile codes -> embedding -> LSTM
    ["env=mario", "agent.policy=cnn_lstm", "env.obs=pixels", "env.grayscale=true",   # frames -> CNN -> LSTM
     "env.resolution=20", "env.num_envs=4"],
    ["env=mario", "agent.policy=impala_lstm", "env.num_envs=4"],                     # one-hot codes -> IMPALA -> LSTM
    ["env=pendulum", "agent.policy=lstm", "env.num_envs=2"],                         # Gaussian actions
    ["env=cartpole_novel", "trainer.precision=bf16"],                                # the LSTM stays float32
])
def test_every_recurrent_front_end_trains_and_evaluates(extra: list[str], tmp_path) -> None:
    from conftest import train

    result = train(["agent=ppo", *extra, "agent.n_steps=16", "agent.batch_size=32", "agent.n_epochs=1",
                    "trainer.total_steps=128", "trainer.eval_every=64", "env.eval_episodes=1",
                    "env.max_episode_steps=40", "trainer.stop_at=null"], tmp_path / "run")
    assert result["completed"] and np.isfinite(result["final"]["return_mean"])
