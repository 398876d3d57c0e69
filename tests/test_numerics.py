"""Numeric unit tests with hand-computed answers (GAE, running statistics, metric means)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.normalize import RunningMeanStd
from agents.rollout import gae
from lab.core.learner import Mean


def test_gae_hand_computed_one_env() -> None:
    # T=3, gamma=0.9, lambda=0.5, no episode end; V = [1, 2, 3], V_T = 4, r = [1, 1, 1]
    r = np.array([[1.0], [1.0], [1.0]])
    v = np.array([[1.0], [2.0], [3.0]])
    zeros = np.zeros((3, 1))
    adv, ret = gae(r, v, np.array([4.0]), zeros, zeros, gamma=0.9, lam=0.5)
    d2 = 1 + 0.9 * 4 - 3          # 1.6
    d1 = 1 + 0.9 * 3 - 2          # 1.7
    d0 = 1 + 0.9 * 2 - 1          # 1.8
    a2 = d2
    a1 = d1 + 0.45 * a2           # 2.42
    a0 = d0 + 0.45 * a1           # 2.889
    np.testing.assert_allclose(adv[:, 0], [a0, a1, a2])
    np.testing.assert_allclose(ret[:, 0], [a0 + 1, a1 + 2, a2 + 3])


def test_gae_termination_does_not_bootstrap_but_truncation_does() -> None:
    # Step 1 ends the episode; step 2 is the NEXT_STEP reset step (masked by the caller).
    # values[2] is V of the episode's final observation (NEXT_STEP autoreset returns it).
    r = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    v = np.array([[0.5, 0.5], [0.5, 0.5], [10.0, 10.0]])
    term = np.array([[0, 0], [1, 0], [0, 0]], dtype=float)   # env 0 terminated, env 1 truncated
    done = np.array([[0, 0], [1, 1], [0, 0]], dtype=float)
    adv, _ = gae(r, v, np.array([7.0, 7.0]), term, done, gamma=1.0, lam=1.0)
    assert adv[1, 0] == pytest.approx(1.0 - 0.5)            # terminated: r - V
    assert adv[1, 1] == pytest.approx(1.0 + 10.0 - 0.5)     # truncated: r + V(final obs) - V
    # the trace is cut at the episode end: A_0 does not see the reset step's advantage
    assert adv[0, 0] == pytest.approx((1 + 0.5 - 0.5) + adv[1, 0])
    assert adv[0, 1] == pytest.approx((1 + 0.5 - 0.5) + adv[1, 1])


def test_gae_lambda_one_gives_discounted_returns() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(size=(5, 3))
    v = rng.normal(size=(5, 3))
    last = rng.normal(size=3)
    zeros = np.zeros((5, 3))
    _, ret = gae(r, v, last, zeros, zeros, gamma=0.9, lam=1.0)
    expected = np.zeros((5, 3))
    g = last
    for t in range(4, -1, -1):
        g = r[t] + 0.9 * g
        expected[t] = g
    np.testing.assert_allclose(ret, expected)


def test_running_mean_std_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(3.0, 2.0, size=(1000, 4))
    rms = RunningMeanStd((4,), epsilon=0.0)
    for chunk in np.split(data, 10):
        rms.update(chunk)
    np.testing.assert_allclose(rms.mean, data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(rms.var, data.var(0), rtol=1e-10)


def test_mean_accumulator_and_state_roundtrip() -> None:
    m = Mean()
    m.add("a", torch.tensor(1.0))
    m.add("a", 3.0)
    m.add("v", torch.tensor([1.0, 2.0]))
    m.add("v", torch.tensor([3.0, 4.0]))
    restored = Mean()
    restored.load_state_dict(m.state_dict())
    assert restored.pop_vector("v", ("x", "y")) == {"x": 2.0, "y": 3.0}
    assert restored.pop() == {"a": 2.0}
    assert restored.pop() == {}


@pytest.mark.parametrize("fused", [True, False])
def test_the_labs_adam_steps_exactly_as_torchs(fused: bool) -> None:
    """agents.networks.Adam skips the decorator that imports torch._dynamo (start-up), not a number."""
    import torch

    from agents.networks import Adam

    def run(cls):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
        opt = cls(net.parameters(), lr=1e-2, eps=1e-5, fused=fused, betas=(0.5, 0.9))
        for i in range(5):
            x = torch.randn(32, 4, generator=torch.Generator().manual_seed(i))
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
        return [p.detach().clone() for p in net.parameters()], opt.state_dict()

    mine, theirs = run(Adam), run(torch.optim.Adam)
    assert all(torch.equal(a, b) for a, b in zip(mine[0], theirs[0]))
    assert all(torch.equal(mine[1]["state"][k]["exp_avg_sq"], theirs[1]["state"][k]["exp_avg_sq"])
               for k in mine[1]["state"])


def test_a_run_without_compile_never_imports_torch_dynamo(tmp_path) -> None:
    """torch._dynamo costs ~1.8 s of start-up; only trainer.compile=true needs it."""
    import subprocess
    import sys

    from conftest import ROOT

    probe = ("import sys; from lab import train; "
             f"train('agent=ppo', 'env=cartpole', 'trainer.total_steps=1024', 'trainer.eval_every=0', "
             f"'wandb.mode=disabled', 'logger.console=false', run_dir={str(tmp_path / 'run')!r}); "
             "print('DYNAMO', 'torch._dynamo' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert "DYNAMO False" in proc.stdout, proc.stdout + proc.stderr[-2000:]
