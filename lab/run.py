"""Config to objects, in one place: where the application layer joins lab.core, agents and envs.

    source  = build_source(cfg)        env=... -> RLSource(make_vec(...)); data=... -> a dataset
    learner = import_module(cfg.agent.learner).build(source, cfg.agent, device, Seeds(cfg.seed))
    Trainer(cfg.trainer, run_dir, loggers, device).fit(learner, source)

Each object receives only what it needs (the source, its own config section, its generators);
whether a run is RL is decided here once, by the source it is given. A learner that cannot learn
from its source fails before training, in one line.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lab import rundir
from lab.core.errors import LabError

log = logging.getLogger("lab")


def main(cfg: DictConfig) -> float | None:
    """Hydra's task function (sweeps, and `--cfg`-style flags): train; a job's error a user can fix
    is one line (exit status 2), and in a sweep one failed job does not stop the others."""
    from hydra.core.hydra_config import HydraConfig

    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = list(hydra_cfg.overrides.task)
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return exit_on_error(lambda: train(cfg, run_dir, overrides=overrides, notes=_notes(cfg, hydra_cfg)))
    if not (cfg.wandb.group or cfg.experiment):
        cfg.wandb.group = Path(hydra_cfg.sweep.dir).name  # a sweep's runs form one W&B group
    try:
        result = train(cfg, run_dir, overrides=overrides, notes=_notes(cfg, hydra_cfg))
    except Exception as exc:
        # In a sweep one failed job must not stop the others: record it; lab.sweep reports it.
        rundir.record_failure(run_dir, exc)
        print(f"lab: job {hydra_cfg.job.num} failed: {exc}", file=sys.stderr)
        return None
    return result.get("final", {}).get(result.get("score"))  # the learner's score, for Hydra's sweepers


def run_one(composed: DictConfig, run_dir: Path, argv: list[str]) -> dict[str, Any]:
    """One job from the preflight's composition (`composed`: the config with its `hydra` node), as
    Hydra's own run would do it, without composing it again (a composition costs ~0.3 s: the CLI's
    single runs and `lab.train` come here; sweeps go through Hydra). `composed` loses its `hydra`
    node to become the job's config. Returns result.json."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    run_dir = Path(run_dir).absolute()  # as Hydra's runtime.output_dir
    with read_write(composed.hydra), open_dict(composed):  # rundir.claim's HydraConfig made it read-only
        composed.hydra.runtime.output_dir = str(run_dir)
        HydraConfig.instance().set_config(composed)  # ${hydra:...} in the job's config resolve as in a Hydra run
        hydra_cfg = composed.pop("hydra")
    job = composed
    os.environ.update({str(k): str(v) for k, v in hydra_cfg.job.env_set.items()})  # as Hydra's run_job
    if hydra_cfg.job.chdir:
        run_dir.mkdir(parents=True, exist_ok=True)
        os.chdir(run_dir)
    task = [a for a in argv if not a.startswith(("hydra.", "hydra/"))]
    return train(job, run_dir, overrides=task, notes=_notes(job, hydra_cfg), hydra_cfg=hydra_cfg)


def exit_on_error(job: Any) -> float | None:
    """Run `job()` for the CLI: a LabError (or an env's failure) is one line on stderr and exit status
    2 (1); Ctrl-C/SIGTERM exits 128 + the signal after the run saved. Returns the learner's score."""
    from envs import EnvStepError

    try:
        result = job()
    except (LabError, EnvStepError) as exc:
        if isinstance(exc, EnvStepError):  # the env's own traceback, for whoever debugs the env
            logging.getLogger("lab.messages").error("env failure", exc_info=exc)
        print(f"lab: error: {exc}", file=sys.stderr)
        sys.exit(2 if isinstance(exc, LabError) else 1)
    if result.get("signal"):
        sys.exit(128 + result["signal"])  # stopped by Ctrl-C/SIGTERM: saved, but not finished
    return result.get("final", {}).get(result.get("score"))


def _notes(cfg: DictConfig, hydra_cfg: Any) -> list[str]:
    note = preset_note(cfg, hydra_cfg)
    return [note] if note else []


def preset_note(cfg: DictConfig, hydra_cfg: Any) -> str | None:
    """'no tuned preset for ppo on MountainCarContinuous-v0 ...' when the pair's optional preset
    (agent_env/<agent>_<env>.yaml or agent_data/<agent>_<data>.yaml) is in none of the config
    sources (conf/, a hydra.searchpath): Hydra skips a missing optional default silently."""
    group = "agent_data" if cfg.get("data") else "agent_env"
    name = hydra_cfg.runtime.choices.get(group)
    if not name:
        return None
    for source in hydra_cfg.runtime.config_sources:
        if source.schema == "file" and (Path(source.path) / group / f"{name}.yaml").is_file():
            return None
    what = cfg.data.name if cfg.get("data") else cfg.env.id
    return (f"no tuned preset for {cfg.agent.name} on {what} ({group}/{name}.yaml): using "
            f"{cfg.agent.name}'s defaults and the command line")


def train(cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None,
          hooks: dict[str, list] | None = None, notes: list[str] | None = None,
          hydra_cfg: Any = None) -> dict[str, Any]:
    """Train as `python -m lab` would, writing to `run_dir`. Returns the run's result.json.
    `notes`: lines printed (and kept in train.log) as the run starts; `hydra_cfg`: the composition's
    `hydra` node, saved as .hydra/hydra.yaml (Hydra writes it itself in the runs it starts)."""
    import torch  # noqa: F401  (heavy imports start here, after the config is known to be good)

    from lab.config import validate
    from lab.core.runtime import select_device

    error = validate(cfg)
    if error:
        raise LabError(error)
    run_dir = Path(run_dir)
    overrides = list(overrides or [])
    device = select_device(cfg.trainer.device)
    dp = None
    if cfg.trainer.distributed == "ddp":
        from lab.core.distributed import DataParallel

        dp = DataParallel(device)
    writes = dp is None or dp.is_main  # under torchrun only rank 0 writes; the others follow it
    found = rundir.find_resume(cfg, run_dir, overrides) if writes else None
    resume_path, run_dir = dp.broadcast(found) if dp is not None else found
    lock = rundir.lock(run_dir) if writes else None  # one process per run directory, until train() returns
    try:
        return _train(cfg, run_dir, overrides, hooks, device, dp, writes, resume_path, notes or [], hydra_cfg)
    finally:
        if lock is not None:
            os.close(lock)  # releases the flock


def _train(cfg: DictConfig, run_dir: Path, overrides: list[str], hooks: dict[str, list] | None, device: Any,
           dp: Any, writes: bool, resume_path: Path | None, notes: list[str], hydra_cfg: Any) -> dict[str, Any]:
    from envs import EnvError
    from lab.core import checkpoint as ckpt
    from lab.core.runtime import configure, skip_dynamo_import
    from lab.core.trainer import Trainer

    resume_state, note = None, None
    if resume_path:
        resume_state, resume_path, note = ckpt.load_for_resume(resume_path)
    restart = False
    if resume_state is None and (run_dir / "metrics.jsonl").exists() and writes:
        if cfg.trainer.resume != "auto":
            raise LabError(f"{run_dir} already holds a run; continue it with trainer.resume=auto "
                           f"or choose another hydra.run.dir")
        restart = True  # killed before its first checkpoint: nothing to continue, start over
    if resume_state is not None:
        rundir.check_same_run(cfg, resume_state, resume_path)
    if writes:
        run_dir.mkdir(parents=True, exist_ok=True)
        rundir.write_config(cfg, run_dir, overrides, hydra_cfg)
        rundir.log_to_file(run_dir)
    from lab.core import wandb_worker
    from lab.core.loggers import wandb_mode

    # W&B's worker process (started by the CLI before it composed the config, or now) imports
    # wandb and starts its service on the other core while this one imports torch and builds the run
    if writes and wandb_mode(cfg.wandb.mode) != "disabled":
        worker = wandb_worker.take()
    else:
        worker = None
        wandb_worker.discard()
    try:
        configure(cfg.seed, cfg.trainer.threads, cfg.trainer.deterministic)
        if not cfg.trainer.compile:
            skip_dynamo_import()
        source = build_source(cfg)
        attach_demos(cfg, source)
        learner = build_learner(cfg, source, device)
        if dp is not None:
            learner.set_data_parallel(dp.rank, dp.world)  # ValueError where the learner has no data-parallel mode
    except BaseException as exc:
        if worker is not None:
            worker.kill()
        if isinstance(exc, (EnvError, ValueError)):  # EnvError, LevelError, DataError: one line each
            raise LabError(str(exc)) from None
        raise

    from lab.core.loggers import new_wandb_id

    wandb_id = (resume_state or {}).get("wandb_id") or new_wandb_id()
    if writes:
        loggers = build_loggers(cfg, run_dir, wandb_id, learner.step_unit,
                                resume_step=resume_state["step"] if resume_state else (0 if restart else None),
                                wandb_worker=worker)
    else:
        from lab.core.loggers import Loggers

        loggers = Loggers([])
        loggers.wandb_mode = "rank 0"
    if restart:
        loggers.message(f"trainer.resume=auto: {run_dir} has no checkpoint yet; starting it over")
    trainer = Trainer(cfg.trainer, run_dir, loggers, device,
                      extra_state={"wandb_id": wandb_id, "config": OmegaConf.to_yaml(cfg)}, data_parallel=dp)
    if cfg.trainer.video_every and writes:  # auto or N (0: off)
        from lab.video import add_video_hook

        add_video_hook(trainer, learner, source, cfg.trainer.video_every, run_dir, loggers, cfg.trainer.precision)
    learner_hooks = learner.hooks(run_dir, loggers) if writes else {}  # e.g. a GAN's sample grids and videos
    for event, fns in [*learner_hooks.items(), *(hooks or {}).items()]:
        for fn in fns:
            trainer.add_hook(event, fn)
    for line in notes:
        loggers.message(line)
    if note:
        loggers.message(f"warning: {note}")
    if resume_state is not None:
        loggers.message(f"resuming {run_dir} from {resume_path} at step {resume_state['step']:,}")
    loggers.message(f"run directory: {run_dir}  (device {device}, W&B {loggers.wandb_mode})")
    try:
        result = trainer.fit(learner, source, resume=resume_state)
    finally:
        loggers.close()
        source.close()
        if dp is not None:
            dp.close()
    final = result.get("summary") or ", ".join(f"{k} {v:.4g}" for k, v in result["final"].items()
                                               if k != "step" and isinstance(v, (int, float)))
    loggers.message(f"{result['status']}: {result['steps']:,} steps in {result['wall_time_s']:.1f} s; final eval: {final}")
    return result


# ---------------------------------------------------------------------- builders
def build_source(cfg: DictConfig) -> Any:
    """What the learner learns from: a dataset for data=..., else the RL source for cfg.env.

    Fields an env schema adds to GymEnvConfig's (e.g. the Mario game's `level`, `obs`) are
    passed to the env as keyword arguments, after `env.kwargs`."""
    if cfg.get("data"):
        from envs.data import make_dataset

        data = OmegaConf.to_container(cfg.data)
        return make_dataset(data.pop("name"), **{k: v for k, v in data.items() if v is not None})
    from envs import make_vec
    from envs.source import RLSource

    env = cfg.env
    kwargs = env_kwargs(cfg)
    if env.get("name") == "mario":  # levels sampled from a level GAN: env.level=gan:RUN[@N]
        from lab.gan_levels import gan_levels

        kwargs["level"] = gan_levels(kwargs.get("level"), kwargs.get("train_levels"))

    # only the training env replays levels by failure rate (env.level_replay); evaluation draws uniformly
    train_only = {k: kwargs.pop(k) for k in ("level_replay",) if kwargs.get(k)}

    def make(n: int, render_mode: str | None = None, extra: dict[str, Any] | None = None):
        return make_vec(env.id, n, vectorization=env.vectorization, max_episode_steps=env.max_episode_steps,
                        kwargs={**kwargs, **(extra or {})}, render_mode=render_mode)

    heldout = []
    eval_keys = getattr(OmegaConf.get_type(env), "EVAL_KEYS", ())
    if eval_keys:  # held-out levels (the Mario game): sets of levels evaluation plays besides training's
        from envs.mario.supply import heldout_sets

        values = OmegaConf.to_container(env)
        for name, extra, episodes in heldout_sets(kwargs, **{k: values[k] for k in eval_keys}):
            heldout.append((name, lambda n, extra=extra: make(n, extra=extra), episodes))
    return RLSource(make, env.num_envs, cfg.seed, env_id=env.id, eval_episodes=env.eval_episodes,
                    env_kwargs=kwargs, family=env.name, heldout=heldout,
                    train_env=(lambda n: make(n, extra=train_only)) if train_only else None)


def attach_demos(cfg: DictConfig, source: Any) -> None:
    """`source.demos`: the demonstrations of `agent.demos` (imitation learners), checked against the
    env they are imitated in. Only training attaches them: watching a run needs no demos file."""
    path = cfg.agent.get("demos") if cfg.get("agent") else None
    if not path:
        return
    from hydra.utils import to_absolute_path

    from envs.demos import DemosError, load_demos, mismatch

    demos = load_demos(to_absolute_path(str(path)))
    problem = mismatch(demos, cfg.env.id, source.single_observation_space, source.single_action_space)
    if problem:
        raise DemosError(problem)
    source.demos = demos


def env_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """`env.kwargs` plus the fields an env schema adds to GymEnvConfig's (the Mario game's `level`...)."""
    import dataclasses

    from envs.config import GymEnvConfig

    base = {f.name for f in dataclasses.fields(GymEnvConfig)}
    base |= set(getattr(OmegaConf.get_type(cfg.env), "EVAL_KEYS", ()))  # read by build_source, not the env
    rename = getattr(OmegaConf.get_type(cfg.env), "KWARG_NAMES", {})  # schema name -> the env's
    return {**OmegaConf.to_container(cfg.env.kwargs),
            **{rename.get(k, k): v for k, v in OmegaConf.to_container(cfg.env).items() if k not in base}}


def build_learner(cfg: DictConfig, source: Any, device: Any) -> Any:
    """`build(source, cfg.agent, device, seeds)` of the module `agent.learner` names, for every
    learner; `seeds` gives it its random-number generators, derived from the run seed.

    A learner that cannot learn from its source (an env's spaces it cannot act in, a memory
    budget it exceeds) raises ValueError, reported as one line.
    """
    import importlib

    from lab.core.rng import Seeds

    agent = OmegaConf.to_object(cfg.agent)
    module = importlib.import_module(cfg.agent.learner)
    try:
        return module.build(source, agent, device, Seeds(cfg.seed))
    except ValueError as exc:
        from lab.core.runtime import MemoryBudgetError

        what = cfg.env.id if cfg.get("env") else cfg.data.name
        if isinstance(exc, MemoryBudgetError):
            raise LabError(f"agent={cfg.agent.name} on {what} {exc}{_obs_size_keys(cfg)}") from None
        raise LabError(f"agent={cfg.agent.name} cannot learn {what}: {exc}") from None


def _obs_size_keys(cfg: DictConfig) -> str:
    """The env keys that shrink each observation, for a memory refusal: ' (env.resolution, ...)'."""
    env = cfg.get("env") or {}
    keys = [k for k in ("resolution", "screen_size", "frame_stack") if k in env]
    if "grayscale" in env and not env.grayscale:
        keys.append("grayscale=true")
    return f" (env.{', env.'.join(keys)})" if keys else ""


def build_loggers(cfg: DictConfig, run_dir: Path, wandb_id: str, unit: str, resume_step: int | None,
                  wandb_worker: Any = None):
    from lab.core.loggers import ConsoleLogger, JsonlLogger, Loggers, TensorBoardLogger, WandbLogger, wandb_mode

    loggers: list[Any] = [JsonlLogger(run_dir / "metrics.jsonl", resume_step)]
    console = ConsoleLogger(cfg.trainer.total_steps, unit, start=resume_step or 0) if cfg.logger.console else None
    if console is not None:
        loggers.append(console)
    mode = wandb_mode(cfg.wandb.mode)
    if mode != "disabled":
        loggers.append(WandbLogger(
            mode=mode, project=cfg.wandb.project, entity=cfg.wandb.entity,
            group=cfg.wandb.group or cfg.experiment, tags=list(cfg.wandb.tags), name=run_dir.name,
            run_dir=run_dir, config={**OmegaConf.to_container(cfg, resolve=True), "system": system_info()},
            run_id=wandb_id, worker=wandb_worker))
    if cfg.logger.tensorboard:
        loggers.append(TensorBoardLogger(run_dir / "tensorboard"))
    out = Loggers(loggers, console)
    out.wandb_mode = mode
    return out


def system_info() -> dict[str, Any]:
    import torch

    return {"python": platform.python_version(), "torch": str(torch.__version__), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


