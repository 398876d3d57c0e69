"""Hyperparameter tuning with Optuna: `python -m lab.tune NAME [--trials N] [--workers K] [--out DIR] [--force]`.

NAME is a search space in conf/tune/NAME.yaml (or a path): the overrides every trial starts
from, the metric and its direction, the pruner, and the space (float/int ranges, log scale,
categorical). Each trial is one in-process lab run under the study directory (runs/tune/NAME/
under the current directory, or --out), in trial_<n>/; every evaluation is reported to Optuna,
and a pruner (median, or successive halving as in rl-baselines3-zoo) stops unpromising trials
early, with a checkpoint like any stopped run.

The study lives in an SQLite file (<study dir>/study.db) with heartbeats: kill the command
and run it again and it continues the same study (a trial that was running when it was killed
is marked failed and not counted); point several machines at one database to share it.
At the end the best trial is written next to the study, never into the lab's own conf/ (whose
presets are shipped, and may sit in site-packages): <study dir>/agent_env/NAME_best.yaml
(agent_data/ for a GAN study), the base preset with the best values. Hydra finds it through
its search path; an existing one is replaced only with --force:

    python -m lab.tune ppo_cartpole --trials 20 --workers 2
    python -m lab agent=ppo env=cartpole 'hydra.searchpath=[file://runs/tune/ppo_cartpole]' \
        agent_env=ppo_cartpole_best seed=7
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import multiprocessing
import sys
from pathlib import Path
from typing import Any

import yaml

from lab.core.errors import LabError

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"


def load_space(name: str) -> tuple[str, dict[str, Any]]:
    """A search space by name (conf/tune/<name>.yaml) or path, checked so a bad file is one line."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else CONF / "tune" / f"{name}.yaml"
    if not path.is_file():
        if path.parent != CONF / "tune":
            raise LabError(f"search space file not found: {path}")
        options = sorted(p.stem for p in (CONF / "tune").glob("*.yaml"))
        raise LabError(f"unknown search space '{name}'; choose one of: {', '.join(options)} (or a .yaml path)")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise LabError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(spec, dict):
        raise LabError(f"{path}: expected a mapping with overrides, metric, direction and space")
    for key in ("overrides", "metric", "space"):
        if key not in spec:
            raise LabError(f"{path}: missing '{key}'")
    if not isinstance(spec["space"], dict) or not spec["space"]:
        raise LabError(f"{path}: space must map config keys to ranges, e.g. agent.lr: {{type: float, low: 1e-4, "
                       f"high: 1e-2, log: true}}")
    for param, dist in spec["space"].items():
        kind = dist.get("type") if isinstance(dist, dict) else None
        if kind not in ("float", "int", "categorical"):
            raise LabError(f"{path}: space.{param}.type must be float, int or categorical")
        need = ("choices",) if kind == "categorical" else ("low", "high")
        missing = [k for k in need if k not in dist]
        if missing:
            raise LabError(f"{path}: space.{param} ({kind}) needs {' and '.join(missing)}")
        if kind != "categorical" and not float(dist["low"]) < float(dist["high"]):
            raise LabError(f"{path}: space.{param}: low={dist['low']} must be below high={dist['high']}")
    return path.stem, spec


def suggest(trial: Any, space: dict[str, Any]) -> list[str]:
    """Sampled values as Hydra overrides."""
    out = []
    for param, d in space.items():
        if d["type"] == "float":
            value = trial.suggest_float(param, float(d["low"]), float(d["high"]), log=bool(d.get("log", False)))
        elif d["type"] == "int":
            value = trial.suggest_int(param, int(d["low"]), int(d["high"]), log=bool(d.get("log", False)))
        else:
            value = trial.suggest_categorical(param, list(d["choices"]))
        out.append(f"{param}={value}")
    return out


def make_pruner(spec: dict[str, Any]) -> Any:
    import optuna

    kind = spec.get("type", "median")
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.get("n_startup_trials", 5),
                                           n_warmup_steps=spec.get("n_warmup_steps", 0))
    if kind == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=spec.get("min_resource", "auto"),
                                                      reduction_factor=spec.get("reduction_factor", 3))
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise LabError(f"pruner.type must be median, successive_halving or none, not '{kind}'")


def storage(url: str) -> Any:
    import optuna

    # Heartbeats let a restarted study fail the trials of a killed process instead of waiting on them.
    return optuna.storages.RDBStorage(url, heartbeat_interval=10, grace_period=30,
                                      engine_kwargs={"connect_args": {"timeout": 60}})


def objective_factory(name: str, spec: dict[str, Any], out_dir: Path, extra: list[str]):
    import optuna

    metric = spec["metric"]
    key = metric.split("/", 1)[-1]

    def objective(trial: optuna.Trial) -> float:
        from hydra import compose, initialize_config_dir

        from lab.config import register_configs
        from lab.run import train

        register_configs()
        overrides = [*spec["overrides"], *extra, *suggest(trial, spec["space"]),
                     "logger.console=false", f"wandb.group=tune_{name}"]
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=overrides)
        pruned = []

        def report(trainer: Any) -> None:
            last = trainer.last_eval
            if last.get("step") == trainer.step and key in last:
                trial.report(float(last[key]), trainer.step)
                if trial.should_prune():
                    pruned.append(trainer.step)
                    trainer.request_stop(f"pruned by Optuna at step {trainer.step}")

        run_dir = out_dir / f"trial_{trial.number}"
        result = train(cfg, run_dir, overrides=overrides, hooks={"on_tick": [report]})
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("overrides", overrides)
        if pruned:
            raise optuna.TrialPruned()
        value = result["final"].get(key)
        if value is None:
            raise RuntimeError(f"trial {trial.number}: the run reported no {metric}")
        return float(value)

    return objective


def _worker(name: str, spec: dict[str, Any], url: str, study_name: str, trials: int, out_dir: str,
            extra: list[str]) -> None:
    import logging

    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    logging.getLogger("lab.messages").disabled = True
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=storage(url),
                              sampler=_sampler(spec), pruner=make_pruner(spec.get("pruner", {})))
    counted = (TrialState.COMPLETE, TrialState.PRUNED)
    if len(study.get_trials(deepcopy=False, states=counted)) >= trials:
        return  # the callback below is asked only after a trial: a finished study would run one more
    stop = MaxTrialsCallback(trials, states=counted)
    study.optimize(objective_factory(name, spec, Path(out_dir), extra), callbacks=[stop],
                   catch=(RuntimeError,))


def _sampler(spec: dict[str, Any]) -> Any:
    import optuna

    s = spec.get("sampler", {})
    # a per-process seed: identical seeds would make parallel workers propose identical trials
    seed = s.get("seed")
    seed = None if seed is None else seed + os.getpid()
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=s.get("n_startup_trials", 5))


def preset_path(spec: dict[str, Any], name: str, out_dir: Path) -> tuple[str, Path]:
    """Where a study's best trial goes: (its config group, <out_dir>/<group>/<name>_best.yaml).

    The `_best` suffix keeps it from being shadowed by a shipped preset: Hydra searches the lab's
    conf/ before `hydra.searchpath`, so `agent_env/ppo_cartpole.yaml` there would win over ours.
    """
    overrides = dict(o.split("=", 1) for o in spec["overrides"] if "=" in o)
    group = "agent_data" if overrides.get("data", "none") != "none" else "agent_env"
    return group, out_dir / group / f"{name}_best.yaml"


def _base_preset(spec: dict[str, Any]) -> Path:
    """The shipped pair preset the study's runs loaded (conf/agent_env/<agent>_<env>.yaml): the preset refines it."""
    overrides = dict(o.split("=", 1) for o in spec["overrides"] if "=" in o)
    agent = overrides.get("agent", "ppo")
    if overrides.get("data", "none") != "none":
        return CONF / "agent_data" / f"{agent}_{overrides['data']}.yaml"
    return CONF / "agent_env" / f"{agent}_{overrides.get('env', 'cartpole')}.yaml"


def usage_line(spec: dict[str, Any], name: str, out_dir: Path) -> str:
    """The command that trains with a study's preset (what the preset's header and the final message show)."""
    import shlex

    overrides = dict(o.split("=", 1) for o in spec["overrides"] if "=" in o)
    group, path = preset_path(spec, name, out_dir)
    pair = [f"{k}={overrides[k]}" for k in ("agent", "env", "data") if k in overrides]
    return " ".join(["python -m lab", *pair, shlex.quote(f"hydra.searchpath=[file://{out_dir}]"),
                     f"{group}={path.stem}"])


def check_writable(out_dir: Path, url: str, preset: Path | None, force: bool) -> None:
    """Refuse, before any trial runs, to write into the lab's own conf/, over an existing preset, or
    a preset that a shipped one of the same name would hide."""
    places = [("the study directory", out_dir, "--out DIR (default runs/tune/<space> in the current directory)")]
    if url.startswith("sqlite:///"):
        places.append(("the study database", Path(url[len("sqlite:///"):]).resolve(), "--storage URL"))
    for what, place, option in places:
        if place.is_relative_to(CONF.resolve()):
            raise LabError(f"{what} {place} is inside the lab's own config directory {CONF}: lab.tune never "
                           f"writes there; give {option} elsewhere")
    shipped = None if preset is None else CONF / preset.parent.name / preset.name
    if shipped is not None and shipped.exists():
        raise LabError(f"the study's preset {preset.parent.name}={preset.stem} would be hidden by the shipped "
                       f"{shipped.relative_to(ROOT)}; rename the search space or pass --no-preset")
    if preset is not None and preset.exists() and not force:
        raise LabError(f"{preset} already exists (the preset of an earlier run of this study); pass --force to "
                       f"replace it, or --no-preset")


def write_preset(spec: dict[str, Any], best: Any, name: str, out_dir: Path, force: bool = False) -> Path:
    """<out_dir>/<group>/<name>_best.yaml: the base preset with the best trial's values.

    Written whole or not at all (a temporary file linked or renamed into place); without `force`
    an existing file is never replaced, even one another process wrote while this study ran.
    """
    from omegaconf import OmegaConf

    group, path = preset_path(spec, name, out_dir)
    base = _base_preset(spec)
    preset = OmegaConf.load(base) if base.is_file() else OmegaConf.create({})
    # the best trial's agent/env/data settings (the study's, the command line's, the sampled
    # values); its trainer budget stays the preset's: a study's budgets are cut short to compare
    tried = best.user_attrs.get("overrides") or [*spec["overrides"], *(f"{k}={v}" for k, v in best.params.items())]
    dotted = [o for o in tried if o.split("=", 1)[0].startswith(("agent.", "env.", "data."))]
    preset = OmegaConf.merge(preset, OmegaConf.from_dotlist(dotted))
    header = (f"# @package _global_\n# Tuned by `python -m lab.tune {name}`: trial {best.number}, "
              f"{spec['metric']} = {best.value:.4g}, "
              f"{f'refining {base.relative_to(ROOT)}' if base.is_file() else 'no shipped preset to refine'}.\n"
              f"# Use: {usage_line(spec, name, out_dir)}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(header + OmegaConf.to_yaml(preset))
    try:
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the file exists: no check-then-write race
    except FileExistsError:
        raise LabError(f"{path} already exists (written while this study ran); pass --force to replace it, "
                       f"or --no-preset") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # one line, like every other lab error (argparse prints the usage block as well)
        print(f"lab.tune: error: {message} (see python -m lab.tune --help)", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m lab.tune", description=__doc__.splitlines()[0])
    parser.add_argument("space", help="conf/tune/<space>.yaml or a path")
    parser.add_argument("--trials", type=int, default=None, help="total trials (completed + pruned)")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--storage", default=None, help="an optuna RDB URL (default sqlite in the study dir)")
    parser.add_argument("--out", type=Path, default=None,
                        help="study directory: trials, study.db, the preset (default runs/tune/<space>)")
    parser.add_argument("--no-preset", action="store_true", help="don't write the best trial's preset")
    parser.add_argument("--force", action="store_true", help="replace the study's existing preset")
    parser.add_argument("overrides", nargs="*", help="extra lab overrides for every trial")
    args = parser.parse_args(argv)
    try:
        name, spec = load_space(args.space)
        out_dir = (args.out or Path("runs") / "tune" / name).resolve()
        url = args.storage or f"sqlite:///{out_dir / 'study.db'}"
        preset = None if args.no_preset else preset_path(spec, name, out_dir)[1]
        check_writable(out_dir, url, preset, args.force)
        import optuna

        out_dir.mkdir(parents=True, exist_ok=True)
        trials = args.trials or spec.get("trials", 20)
        study = optuna.create_study(study_name=name, storage=storage(url), load_if_exists=True,
                                    direction=spec.get("direction", "maximize"))
        done = len([t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")])
        print(f"study {name} ({url}): {done} of {trials} trials done; {args.workers} worker(s)", file=sys.stderr)
        work = (name, spec, url, name, trials, str(out_dir), list(args.overrides))
        if args.workers <= 1:
            _worker(*work)
        else:
            ctx = multiprocessing.get_context("spawn")
            procs = [ctx.Process(target=_worker, args=work) for _ in range(args.workers)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
        study = optuna.load_study(study_name=name, storage=storage(url))
        states = [t.state.name for t in study.trials]
        print(f"trials: {states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned, "
              f"{states.count('FAIL')} failed", file=sys.stderr)
        try:
            best = study.best_trial
        except ValueError:
            print("lab.tune: no trial completed", file=sys.stderr)
            return 1
        print(f"best: trial {best.number}, {spec['metric']} = {best.value:.4g}, params {best.params}")
        if not args.no_preset:
            path = write_preset(spec, best, name, out_dir, force=args.force)
            print(f"wrote {path}\nuse it: {usage_line(spec, name, out_dir)}")
    except LabError as exc:
        print(f"lab.tune: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
