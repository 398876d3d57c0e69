"""The run directory: one process per directory, finding the run to resume, the files that
describe a run (.hydra/config.yaml, overrides.yaml), train.log, and a failed sweep job's result.

    runs/<date>/<time>_<agent>_<env|data>/
        .hydra/config.yaml  overrides.yaml  train.log  metrics.jsonl  result.json  checkpoints/  media/
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from lab.core.errors import LabError

log = logging.getLogger("lab")


def record_failure(run_dir: Path, exc: BaseException) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "result.json"
    result = json.loads(path.read_text()) if path.exists() else {"status": "failed", "completed": False}
    result.setdefault("error", f"{type(exc).__name__}: {exc}")
    result["status"], result["completed"] = "failed", False
    path.write_text(json.dumps(result, indent=2) + "\n")


def lock(run_dir: Path) -> int:
    """An exclusive flock on the run directory itself (no file written into it): a second process
    writing or resuming the same run is refused instead of interleaving with the first."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LabError(f"{run_dir} is in use by another lab process; wait for it to finish "
                       f"or choose another hydra.run.dir") from None
    return fd


def same_job(a: list[str], b: list[str]) -> bool:
    drop = lambda ovs: sorted(o for o in ovs if not o.lstrip("+~").startswith(("trainer.resume", "hydra.")))
    return drop(a) == drop(b)


def find_resume(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> tuple[Path | None, Path]:
    """The checkpoint to resume from and the run directory to continue in."""
    resume = cfg.trainer.resume
    if not resume:
        return None, run_dir
    if resume != "auto":
        path = Path(resume)
        if path.is_dir():
            path = path / "checkpoints" / "last.pt" if (path / "checkpoints").is_dir() else path / "last.pt"
        if not path.is_file():
            raise LabError(f"trainer.resume: checkpoint not found: {path} (give a .pt file, a run directory, or auto)")
        target = path.parent.parent if path.parent.name == "checkpoints" else run_dir
        return path, adopt(run_dir, target)
    own = run_dir / "checkpoints" / "last.pt"
    if own.is_file() or own.with_name("prev.pt").is_file():  # load_for_resume falls back to prev.pt
        return own, run_dir
    # A fresh Hydra directory: continue the newest unfinished run of the same command.
    candidates = []
    for last in Path(cfg.runs_dir).glob("**/checkpoints/last.pt"):
        other = last.parent.parent
        if other.resolve() == run_dir.resolve():
            continue
        over = other / ".hydra" / "overrides.yaml"
        result = other / "result.json"
        if not over.is_file():
            continue
        if result.is_file() and json.loads(result.read_text()).get("completed"):
            continue
        if same_job(yaml.safe_load(over.read_text()) or [], overrides):
            candidates.append((last.stat().st_mtime, last))
    if not candidates:
        log.info("trainer.resume=auto: no unfinished run of this command found; starting fresh")
        return None, run_dir
    last = max(candidates)[1]
    return last, adopt(run_dir, last.parent.parent)


def adopt(fresh: Path, target: Path) -> Path:
    """Continue in `target`; remove the empty directory Hydra made for this launch."""
    if fresh.resolve() != target.resolve() and fresh.is_dir():
        if {p.name for p in fresh.iterdir()} <= {".hydra"}:
            shutil.rmtree(fresh)
    return target


def check_same_run(cfg: DictConfig, state: dict[str, Any], path: Path) -> None:
    from lab.safety import check_config

    from lab.config import migrate

    saved = migrate(OmegaConf.create(state.get("config", "{}")))
    env_id = str(cfg.env.get("id", "")) if cfg.get("env") else ""
    check_config(saved, str(path), also=(env_id.split(":", 1)[0],) if ":" in env_id else ())
    for section in ("agent", "env", "data"):
        old = OmegaConf.to_container(saved.get(section) or OmegaConf.create({}))
        new = OmegaConf.to_container(cfg.get(section) or OmegaConf.create({}))
        if old != new:
            keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise LabError(f"checkpoint {path} was trained with a different {section} config "
                           f"({', '.join(f'{section}.{k}' for k in keys)}); resume with the same settings")
    if saved.get("seed") != cfg.seed:
        raise LabError(f"checkpoint {path} was trained with seed={saved.get('seed')}, not seed={cfg.seed}")


def write_config(cfg: DictConfig, run_dir: Path, overrides: list[str], hydra_cfg: Any = None) -> None:
    """The .hydra/ files Hydra writes in the runs it starts (sweeps), for every other run: the CLI's
    single runs, lab.train, tests. `hydra_cfg`: the composition's `hydra` node, for hydra.yaml."""
    hydra_dir = run_dir / ".hydra"
    if not (hydra_dir / "config.yaml").exists():
        hydra_dir.mkdir(parents=True, exist_ok=True)
        (hydra_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
        (hydra_dir / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        if hydra_cfg is not None:
            (hydra_dir / "hydra.yaml").write_text(OmegaConf.to_yaml({"hydra": hydra_cfg}))


def log_to_file(run_dir: Path) -> None:
    root = logging.getLogger("lab")
    root.setLevel(logging.INFO)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(stream)
    handler = logging.FileHandler(run_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for logger in (root, logging.getLogger("lab.messages")):
        logger.setLevel(logging.INFO)
        for h in list(logger.handlers):
            if isinstance(h, logging.FileHandler):
                logger.removeHandler(h)
                h.close()
        logger.addHandler(handler)


def single_run_dir(argv: list[str], cfg: Any) -> Path:
    """A single run's directory: claimed under the CLI's name, or the hydra.run.dir `argv` gives."""
    return claim(argv, cfg) or Path(str(OmegaConf.select(cfg, "hydra.run.dir")))


def claim(argv: list[str], cfg: Any) -> Path | None:
    """Hydra names the run (or sweep) directory by the second it starts, so two launches of the
    same agent and env in one second (a shell loop over seeds) would share one directory and the
    second would rewrite the first's .hydra/. Create the directory here instead, atomically
    (mkdir fails when it exists), as `<name>_2`, `_3`, ... on a clash, and return it (None when
    `argv` names the directory itself). `cfg`: the preflight's composed config, with its `hydra` node."""
    from hydra.core.hydra_config import HydraConfig

    key = "hydra.sweep.dir" if any(a in ("-m", "--multirun") for a in argv) else "hydra.run.dir"
    if cfg is None or any(a.startswith(key + "=") for a in argv):
        return None
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
            raise LabError(f"cannot create the run directory {path}: {exc.strerror or exc} "
                           f"(set runs_dir=... or {key}=...)") from None
        return path
    return None
