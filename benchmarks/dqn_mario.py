"""DQN on the built-in Mario-like game: train `python -m lab agent=dqn env=mario` for some seeds,
then measure how often the trained (greedy) policy reaches the flag (`info["flag_get"]`), which the
lab's evaluation (returns only) does not report. The code is benchmarks/mario_ppo.py's.

For each seed: training wall time, steps, env steps/s (end to end and the median of the logged
ticks), the lab's own final evaluation, and the flag rate over 20 episodes with deterministic
(greedy, the lab's evaluation) and stochastic (epsilon-greedy at the final epsilon) actions. Without
sticky actions the game is deterministic, so the 20 greedy episodes are one episode 20 times.

    python benchmarks/dqn_mario.py                          # seeds 0 1 2, the dqn_mario preset
    python benchmarks/dqn_mario.py --seeds 0 --extra trainer.total_steps=300000 agent.lr=1e-3
    python benchmarks/dqn_mario.py --eval runs/2025-01-01/12-00-00_dqn_mario   # an existing run
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from mario_ppo import main  # noqa: E402  (one command line for both agents)

if __name__ == "__main__":
    main("dqn", __doc__)

