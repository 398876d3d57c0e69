"""The lab's command line: ``python -m lab agent=ppo env=cartpole [key=value ...]``.

The overrides are composed once here and checked against the typed schema, so a wrong override
fails in well under a second with one line naming the key and the valid choices, without
importing torch, wandb or stable-baselines3. A single run then trains from that composition
(lab.run.run_one, as `lab.train` does); sweeps (-m) and Hydra's own flags (--cfg, --info, ...)
go to Hydra, which composes each job itself.
"""

from __future__ import annotations

import os
import sys

# Small-network RL is bound by per-op overhead; a multi-threaded BLAS only adds contention
# (a 256x64 numpy matmul took 2.5 ms instead of 56 us under load). Must precede numpy's import.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def _may_use_wandb(argv: list[str]) -> bool:
    """A single run (no flags) on rank 0 that does not switch W&B off on its command line."""
    off = os.environ.get("WANDB_MODE") == "disabled" or "wandb.mode=disabled" in argv
    return not off and int(os.environ.get("RANK", "0")) == 0 and not any(a.startswith("-") for a in argv)


if __name__ == "__main__" and _may_use_wandb(sys.argv[1:]):
    # first thing: W&B's worker imports wandb on the other core while this process composes the
    # config and imports torch (~0.6 s off a short run's wall time; killed if the run has no W&B)
    from lab.core import wandb_worker

    wandb_worker.prestart()

from typing import Any

import hydra
from omegaconf import DictConfig

from lab.config import CONF_DIR as CONF_PATH
from lab.config import register_configs, search_dirs
from lab.core.errors import LabError
from lab.preflight import check_overrides, explain_hydra_error

CONF_DIR = str(CONF_PATH)


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
    """argv with the run (or sweep) directory claimed for it (lab/rundir.py: claim)."""
    from lab.rundir import claim

    claimed = claim(argv, cfg)
    if claimed is None:
        return argv
    key = "hydra.sweep.dir" if any(a in ("-m", "--multirun") for a in argv) else "hydra.run.dir"
    quoted = str(claimed).replace("\\", "\\\\").replace("'", "\\'")
    return [*argv, f"{key}='{quoted}'"]


# The groups a user chooses (`python -m lab --help` lists these; the schema groups and the configs
# of other tools, conf/tune and conf/wandb_sweeps, are internal).
_USER_GROUPS = ("agent", "env", "data", "agent_env", "agent_data", "trainer", "logger", "hydra/launcher")


def _help(argv: list[str]) -> int:
    """Hydra's --help, listing only the groups a user chooses (with the overrides applied)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf, open_dict

    overrides = [a for a in argv if not a.startswith("-")]
    error = check_overrides(CONF_DIR, overrides)[0]
    if error:
        print(f"lab: error: {error}", file=sys.stderr)
        return 2
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()  # type: ignore[union-attr]
        groups = {g: [o for o in loader.get_group_options(g) if not o.endswith("_schema")] for g in _USER_GROUPS}
    help_cfg = cfg.hydra.help
    with open_dict(cfg):
        del cfg["hydra"]
    print(help_cfg.header.rstrip())
    print("\nConfig groups (choose with group=option):")
    for group, options in groups.items():
        print(f"{group}: {', '.join(options)}")
    print("\nConfig (override any key with key=value):\n")
    print(OmegaConf.to_yaml(cfg).rstrip())
    print("\n" + help_cfg.footer.rstrip())
    return 0


def main() -> None:
    argv = sys.argv[1:]
    try:
        register_configs(search_dirs(argv))  # every agent option's schema, from its learner module
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        sys.exit(2)
    if int(os.environ.get("RANK", "0")) > 0:  # trainer.distributed=ddp: rank 0 owns the run dir
        argv = sys.argv[1:] = _follower_argv(argv)
    if "--help" in argv or "-h" in argv:
        sys.exit(_help([a for a in argv if a not in ("--help", "-h")]))
    if not any(a in _HELP or a.startswith("--info") for a in argv):
        error, cfg = check_overrides(CONF_DIR, argv)
        if error:
            print(f"lab: error: {error}", file=sys.stderr)
            sys.exit(2)
        if not any(a.startswith("-") for a in argv):  # one job: run the preflight's composition itself
            sys.exit(_run_one(argv, cfg))
        if not any(a in _NO_JOB or a.startswith("--cfg=") for a in argv):
            try:
                argv = sys.argv[1:] = _claim_output_dir(argv, cfg)
            except LabError as exc:
                print(f"lab: error: {exc}", file=sys.stderr)
                sys.exit(2)
    try:
        _hydra_main()  # a sweep (-m), or a flag of Hydra's (--cfg job, --info, ...)
    except Exception as exc:  # Hydra re-raises config errors met after the preflight
        message = explain_hydra_error(exc)
        if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"lab: error: {message}", file=sys.stderr)
        sys.exit(2)


def _run_one(argv: list[str], cfg: Any) -> int:
    """A single run, from the preflight's composition: Hydra's own run would compose it twice more
    (~0.6 s of a CartPole run's start-up) to write the same run directory."""
    from lab.rundir import single_run_dir
    from lab.run import exit_on_error, run_one

    try:
        run_dir = single_run_dir(argv, cfg)
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 2
    exit_on_error(lambda: run_one(cfg, run_dir, argv))
    return 0


if __name__ == "__main__":
    main()
