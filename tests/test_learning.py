"""Learning tests: with fixed seeds, the default presets reach their return thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import train


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])  # the matrix's seeds (3 of 3); the preset solved 20 of seeds 0-19
def test_ppo_solves_cartpole_with_the_default_preset(seed: int, tmp_path: Path) -> None:
    result = train(["agent=ppo", "env=cartpole", f"seed={seed}", "trainer.checkpoint_every=0"], tmp_path / "run")
    # the preset's budget (100k steps) and 10-episode deterministic evaluation; >= 475 is "solved"
    assert result["final"]["episodes"] == 10
    assert result["final"]["return_mean"] >= 475, result
    assert result["steps"] <= 100_000


@pytest.mark.slow
def test_recurrent_ppo_solves_cartpole_without_velocities(tmp_path: Path) -> None:
    """The LSTM policy's preset (rl-zoo's ppo_lstm) solves CartPoleNoVel within the zoo's 100k steps
    (seed 0: the first 10-episode evaluation >= 475 at ~41k steps). The feed-forward policy on the
    same budget ends far below (44 at 100k on seed 0: benchmarks/RESULTS.md, not run here)."""
    result = train(["agent=ppo", "env=cartpole_novel", "seed=0", "trainer.checkpoint_every=0"], tmp_path / "run")
    assert result["status"] == "solved" and result["final"]["return_mean"] >= 475, result
    assert result["steps"] <= 100_000
