"""Reopening a saved run: find it (a run directory, a checkpoint file, or `latest`), read its
config back typed by this lab's schemas (migrating keys that moved, refusing code it does not
trust), and rebuild its source and learner with the checkpoint's weights.

    run = open_run("latest")                  # or a run directory / a .pt file; checkpoint="best"|"last"|PATH
    source, learner, device = rebuild(run)    # as lab.run built them, weights loaded

Used by lab.watch (and benchmarks that replay a run).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.core.errors import LabError


@dataclass
class Run:
    """What a RUN argument names: a checkpoint, its state, the config that built it."""

    checkpoint: Path
    state: dict[str, Any]
    cfg: Any  # the typed DictConfig
    run_dir: Path | None
    media_dir: Path


def find_latest(runs_dir: Path) -> Path:
    """The most recently started run under `runs_dir` that has a checkpoint."""
    runs = [cfg.parent.parent for cfg in Path(runs_dir).glob("**/.hydra/config.yaml")
            if list((cfg.parent.parent / "checkpoints").glob("*.pt"))]
    if not runs:
        raise LabError(f"latest: no run with a checkpoint under {runs_dir}/ (use --runs-dir DIR)")
    return max(runs, key=lambda r: (r / ".hydra" / "config.yaml").stat().st_mtime)


def resolve(run: str, checkpoint: str | None, runs_dir: Path) -> tuple[Path, Path | None]:
    """(checkpoint file, run directory or None) for RUN and --checkpoint."""
    path = find_latest(runs_dir) if run == "latest" else Path(run)
    if not path.exists():
        raise LabError(f"no run at {path}: it does not exist (give a run directory, a checkpoint .pt file or latest)")
    if path.is_file():
        if checkpoint not in (None, "best", "last"):
            raise LabError("give the checkpoint either as RUN or as --checkpoint, not both")
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
        return path, run_dir if run_dir is not None and (run_dir / ".hydra").is_dir() else None
    if not (path / ".hydra").is_dir() and not (path / "checkpoints").is_dir():
        raise LabError(f"{path} is not a run directory (no .hydra/ or checkpoints/ in it)")
    ckpts = path / "checkpoints"
    if checkpoint in (None, "best", "last"):
        name = checkpoint or "best"
        file = ckpts / f"{name}.pt"
        if not file.is_file() and checkpoint is None and (ckpts / "last.pt").is_file():
            print(f"lab.watch: {path} has no best.pt (no evaluation yet); using last.pt", file=sys.stderr)
            file = ckpts / "last.pt"
        if not file.is_file():
            have = sorted(p.name for p in ckpts.glob("*.pt")) if ckpts.is_dir() else []
            if not have:
                raise LabError(f"{path} has no checkpoint: {ckpts} holds no .pt file (not trained far enough?)")
            raise LabError(f"{path} has no checkpoints/{file.name}; it has {', '.join(have)} "
                           f"(--checkpoint last|best|PATH)")
        return file, path
    file = Path(checkpoint)
    if not file.is_file():
        raise LabError(f"--checkpoint {checkpoint}: no such checkpoint file")
    return file, path


def typed_config(text: str, where: str) -> Any:
    """The saved (plain yaml) config, typed again by the schemas, as Hydra composed it."""
    from omegaconf import OmegaConf

    from envs.config import ENV_SCHEMAS
    from lab.config import LabConfig, learner_schema

    from envs.data_config import DATA_SCHEMA_OF, DataConfig

    registries: dict[str, dict[str, Any]] = {"env": ENV_SCHEMAS}
    from lab.safety import check_config

    try:
        saved = OmegaConf.create(text)
    except Exception as exc:
        raise LabError(f"the config in {where} is not valid YAML: {str(exc).strip().splitlines()[0]}") from None
    check_config(saved, where)  # nothing it names is imported unless the lab trusts it
    from lab.config import migrate

    saved = migrate(saved)
    try:
        sections = {}
        agent = saved.get("agent")
        if agent:  # typed by the schema of the learner module it names (lab.safety vetted the name)
            module = agent.get("learner")
            if not isinstance(module, str):
                raise LabError(f"the config in {where} names no learner module (agent.learner)")
            sections["agent"] = OmegaConf.merge(OmegaConf.structured(learner_schema(module)), agent)
        if saved.get("data"):  # DataConfig, unless the dataset has a schema of its own
            schema = DATA_SCHEMA_OF.get(saved.data.get("name"), DataConfig)
            sections["data"] = OmegaConf.merge(OmegaConf.structured(schema), saved.data)
        for key, schemas in registries.items():
            node = saved.get(key)
            if not node:
                continue
            name = node.get("name")
            if name not in schemas:
                raise LabError(f"the config in {where} has {key}.name={name}, which this lab does not know "
                               f"(known: {', '.join(sorted(schemas))})")
            sections[key] = OmegaConf.merge(OmegaConf.structured(schemas[name]), node)
        cfg = OmegaConf.merge(OmegaConf.structured(LabConfig),
                              {k: v for k, v in saved.items() if k not in sections})
        for key, node in sections.items():
            cfg[key] = node
    except LabError:
        raise
    except Exception as exc:  # a key this version of the lab no longer has, a wrong type
        raise LabError(f"the config in {where} does not fit this version of the lab: "
                       f"{str(exc).strip().splitlines()[0]}") from None
    return cfg


def open_run(run: str, checkpoint: str | None = None, runs_dir: Path = Path("runs")) -> Run:
    from lab.core import checkpoint as ckpt

    file, run_dir = resolve(run, checkpoint, runs_dir)
    state = ckpt.load(file)
    saved = run_dir / ".hydra" / "config.yaml" if run_dir is not None else None
    if saved is not None and saved.is_file():
        cfg = typed_config(saved.read_text(), str(saved))
    elif state.get("config"):
        cfg = typed_config(state["config"], str(file))
    else:
        raise LabError(f"no config for {file}: {saved or 'its run directory'} is missing and the checkpoint stores none")
    if "learner" not in state:
        raise LabError(f"checkpoint {file} holds no learner state")
    media = (run_dir if run_dir is not None else file.parent) / "media"
    return Run(file, state, cfg, run_dir, media)


def with_env_overrides(run: Run, overrides: list[str]) -> Run:
    """The run with `env.KEY=VALUE` overrides applied to its config (what is played, e.g. a level it
    never trained on; values are YAML: `env.level=[pits,stairs]`); one line for an override outside
    env.*, an unknown key or an invalid value."""
    if not overrides:
        return run
    import copy

    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from lab.config import validate

    cfg = copy.deepcopy(run.cfg)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.startswith("env.") or OmegaConf.select(cfg, key, default="<missing>") == "<missing>":
            raise LabError(f"{item}: lab.watch takes overrides of the run's env.* keys (what is played), "
                           f"e.g. env.level=pits")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        try:
            OmegaConf.update(cfg, key, value, merge=False)
        except OmegaConfBaseException as exc:
            raise LabError(f"{item}: {str(exc).splitlines()[0]}") from None
    error = validate(cfg)
    if error:
        raise LabError(error)
    return dataclasses.replace(run, cfg=cfg)


def rebuild(run: Run, device: str | None = None) -> tuple[Any, Any, Any]:
    """(source, learner, device) as lab.run builds them, with the checkpoint's weights loaded."""
    from envs import EnvError
    from lab.run import build_learner, build_source
    from lab.core.runtime import configure, select_device

    cfg = run.cfg
    configure(cfg.seed, cfg.trainer.threads, False)
    dev = select_device(device or cfg.trainer.device)
    try:
        source = build_source(cfg)
        learner = build_learner(cfg, source, dev)
    except (EnvError, ValueError) as exc:
        raise LabError(str(exc)) from None
    try:
        learner.load_state_dict(run.state["learner"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        source.close()
        raise LabError(f"checkpoint {run.checkpoint} does not match its config "
                       f"(agent={cfg.agent.name}): {_mismatch(exc)}") from None
    return source, learner, dev


def _mismatch(exc: Exception) -> str:
    """torch's multi-line load_state_dict error as one short line."""
    if isinstance(exc, KeyError):
        return f"missing from the checkpoint: {exc.args[0] if exc.args else '?'}"
    text = str(exc)
    parts = [f"{name} is {_shape(a)} in the checkpoint but {_shape(b)} in the config" for name, a, b in re.findall(
        r"size mismatch for ([\w.]+): copying a param with shape torch\.Size\((\[[^\]]*\])\) from checkpoint, "
        r"the shape in current model is torch\.Size\((\[[^\]]*\])\)", text)]
    for kind, label in (("Missing", "missing from the checkpoint"), ("Unexpected", "not in the config's model")):
        m = re.search(kind + r" key\(s\) in state_dict: (.*)$", text, re.M)
        keys = re.findall(r'"([^"]+)"', m.group(1)) if m else []
        if keys:
            parts.append(f"{label}: {', '.join(keys[:3])}" + (f" and {len(keys) - 3} more" if len(keys) > 3 else ""))
    if not parts:
        lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
        parts = [(lines[-1] if lines else "") or type(exc).__name__]
    shown = "; ".join(parts[:3]) + (f"; and {len(parts) - 3} more differences" if len(parts) > 3 else "")
    return shown


def _shape(text: str) -> str:
    return text.replace(" ", "")
