"""The lab's command line: ``python -m lab agent=ppo env=cartpole [key=value ...]``.

Before Hydra runs the job, the overrides are composed once here and checked against the
typed schema, so a wrong override fails in well under a second with one line naming the key
and the valid choices, without importing torch, wandb or stable-baselines3.
"""

from __future__ import annotations

import os
import sys

# Small-network RL is bound by per-op overhead; a multi-threaded BLAS only adds contention
# (a 256x64 numpy matmul took 2.5 ms instead of 56 us under load). Must precede numpy's import.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from lab.config import register_configs
from lab.preflight import check_overrides, explain_hydra_error

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> float | None:
    from lab.run import main as run_main  # heavy imports (torch, gymnasium) start here

    return run_main(cfg)


def _follower_argv(argv: list[str]) -> list[str]:
    """torchrun's ranks > 0 write nothing: Hydra gets a scratch run dir and no .hydra/ there."""
    import atexit
    import shutil
    import tempfile

    scratch = tempfile.mkdtemp(prefix="lab-rank-")
    atexit.register(shutil.rmtree, scratch, True)
    keep = [a for a in argv if not a.startswith(("hydra.run.dir=", "hydra.output_subdir="))]
    return [*keep, f"hydra.run.dir={scratch}", "hydra.output_subdir=null"]


_HELP = ("--help", "-h", "--hydra-help", "--info", "-i")
_NO_JOB = (*_HELP, "--cfg", "-c", "--shell-completion", "-sc")  # Hydra prints, runs nothing


def _claim_output_dir(argv: list[str], cfg: Any) -> list[str]:
    """Hydra names the run (or sweep) directory by the second it starts, so two launches of the
    same agent and env in one second (a shell loop over seeds) would share one directory and the
    second would rewrite the first's .hydra/. Create the directory here instead, atomically
    (mkdir fails when it exists), as `<name>_2`, `_3`, ... on a clash, and hand it to Hydra.
    `cfg`: the preflight's composed config, with its `hydra` node."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    key = "hydra.sweep.dir" if any(a in ("-m", "--multirun") for a in argv) else "hydra.run.dir"
    if cfg is None or any(a.startswith(key + "=") for a in argv):
        return argv
    HydraConfig.instance().set_config(cfg)  # for ${hydra:runtime.choices...} in the name
    base = Path(str(OmegaConf.select(cfg, key)))
    for n in range(1, 1000):
        path = base if n == 1 else base.with_name(f"{base.name}_{n}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            print(f"lab: error: cannot create the run directory {path}: {exc.strerror or exc} "
                  f"(set runs_dir=... or {key}=...)", file=sys.stderr)
            sys.exit(2)
        quoted = str(path).replace("\\", "\\\\").replace("'", "\\'")
        return [*argv, f"{key}='{quoted}'"]
    return argv


def main() -> None:
    register_configs()
    argv = sys.argv[1:]
    if int(os.environ.get("RANK", "0")) > 0:  # trainer.distributed=ddp: rank 0 owns the run dir
        argv = sys.argv[1:] = _follower_argv(argv)
    if not any(a in _HELP or a.startswith("--info") for a in argv):
        error, cfg = check_overrides(CONF_DIR, argv)
        if error:
            print(f"lab: error: {error}", file=sys.stderr)
            sys.exit(2)
        if not any(a in _NO_JOB or a.startswith("--cfg=") for a in argv):
            argv = sys.argv[1:] = _claim_output_dir(argv, cfg)
    try:
        _hydra_main()
    except Exception as exc:  # Hydra re-raises config errors met after the preflight
        message = explain_hydra_error(exc)
        if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"lab: error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
