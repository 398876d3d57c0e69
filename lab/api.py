"""The lab from Python (a notebook, a script): one call composes, validates and runs like the CLI.

    from lab import train
    result = train("agent=ppo", "env=cartpole", "seed=1")
    result.run_dir, result.status, result.final["return_mean"], result.best

`train(*overrides)` is `python -m lab OVERRIDES`: the same config composition (conf/ and any
`hydra.searchpath=[file://DIR]`), the same one-line errors (raised as LabError instead of an exit
status), the same run directory under `runs/` (or `run_dir=`), files and console lines. One job
per call: sweeps stay `python -m lab -m ...`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.core.errors import LabError


@dataclass
class Result:
    """What a run ended with (its result.json, and where it is)."""

    run_dir: Path
    status: str  # completed, solved (trainer.stop_at reached), stopped, failed
    steps: int
    score: str | None  # the key of `final` the learner scores by
    final: dict[str, Any]  # the last evaluation's metrics (and its step)
    best: float | None  # the best evaluation's score (best.pt)
    wall_time_s: float
    raw: dict[str, Any] = field(repr=False, default_factory=dict)  # result.json as written

    @property
    def value(self) -> float | None:
        """The last evaluation's score."""
        return None if self.score is None else self.final.get(self.score)


def train(*overrides: str, run_dir: str | Path | None = None) -> Result:
    """Train as `python -m lab OVERRIDES` would; return the run's result.

    `run_dir`: where the run goes (default: a new runs/<date>/<time>_<agent>_<env|data>/, as the CLI
    names it). Raises LabError with the CLI's one-line message for bad overrides or files."""
    from lab import rundir
    from lab import run as lab_run
    from lab.config import CONF_DIR, register_configs, search_dirs
    from lab.preflight import check_overrides

    argv = [str(o) for o in overrides]
    if any(a in ("-m", "--multirun") for a in argv) or any(a.startswith("-") for a in argv):
        raise LabError("lab.train runs one job from key=value overrides; sweep with python -m lab -m ...")
    register_configs(search_dirs(argv))
    error, cfg = check_overrides(str(CONF_DIR), argv)
    if error:
        raise LabError(error)
    if run_dir is None:  # the CLI's name for it, created atomically
        run_dir = rundir.single_run_dir(argv, cfg)
    result = lab_run.run_one(cfg, Path(run_dir), argv)
    return Result(run_dir=Path(run_dir), status=result["status"], steps=result["steps"], score=result.get("score"),
                  final=dict(result.get("final", {})), best=result.get("best_eval"),
                  wall_time_s=result.get("wall_time_s", 0.0), raw=result)
