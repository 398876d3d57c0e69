"""Sweep bookkeeping: a Hydra callback that reports each multirun's jobs at the end.

One failed job never stops the others (lab/run.py records its error in the job's
result.json and returns); this callback then lists what completed and what failed, and makes
the command exit non-zero when any job failed, so scripts and CI notice.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def job_results(sweep_dir: Path) -> list[tuple[Path, dict[str, Any] | None]]:
    """(job directory, its result.json or None) for every job directory of a sweep."""
    jobs = sorted((p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir()),
                  key=lambda p: (len(p.name), p.name))
    out = []
    for job in jobs:
        path = job / "result.json"
        out.append((job, json.loads(path.read_text()) if path.is_file() else None))
    return out


class SweepReport(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        results = job_results(sweep_dir)
        failed = [(job, r) for job, r in results if not r or not r.get("completed")]
        print(f"sweep {sweep_dir}: {len(results) - len(failed)} of {len(results)} jobs completed", file=sys.stderr)
        for job, r in failed:
            why = (r or {}).get("error") or (r or {}).get("stop_reason") or "no result.json (killed?)"
            print(f"  failed: {job.name}: {why}", file=sys.stderr)
        print(f"report: python -m lab.report {sweep_dir}", file=sys.stderr)
        if failed:
            sys.exit(1)
