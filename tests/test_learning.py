"""Learning tests: with fixed seeds, the default presets reach their return thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import train


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_ppo_solves_cartpole_with_the_default_preset(seed: int, tmp_path: Path) -> None:
    result = train(["agent=ppo", "env=cartpole", f"seed={seed}", "trainer.checkpoint_every=0"], tmp_path / "run")
    # the preset's budget (100k steps) and 10-episode deterministic evaluation; >= 475 is "solved"
    assert result["final"]["episodes"] == 10
    assert result["final"]["return_mean"] >= 475, result
    assert result["steps"] <= 100_000
