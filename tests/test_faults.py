"""Fault injection: a disk that refuses writes, a W&B that raises or hangs, an env that crashes,
checkpoints carrying pickled code, configs naming foreign code, two processes on one run.

Each failure must be one clear message, and whatever was saved before it must stay loadable."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import time
import types
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import QUIET, compose, train

from lab.core import checkpoint as ckpt
from lab.core.errors import LabError

TINY = ["agent=ppo", "env=cartpole", "trainer.total_steps=4096", "trainer.eval_every=2048",
        "env.eval_episodes=2", "trainer.checkpoint_every=1024", "trainer.log_every=0"]


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------- the disk refuses a write
@pytest.mark.parametrize("code,where", [(errno.ENOSPC, "write"), (errno.EROFS, "open")])
def test_a_checkpoint_that_cannot_be_written_stops_with_a_clear_error_and_keeps_the_previous(
        code: int, where: str, tmp_path: Path, monkeypatch) -> None:
    """Disk full while writing, or a read-only directory: the previous last.pt stays loadable."""
    real_save, real_mkstemp = torch.save, ckpt.tempfile.mkstemp
    calls = {"n": 0}

    def failing_save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] >= 2:  # the first checkpoint (step 1024) lands; the second hits a full disk
            f.write(b"\0" * 100)  # part of it was written before the disk filled up
            raise OSError(code, "No space left on device")
        return real_save(obj, f, *a, **k)

    def failing_mkstemp(*a, **k):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError(code, "Read-only file system")
        return real_mkstemp(*a, **k)

    if where == "write":
        monkeypatch.setattr(ckpt.torch, "save", failing_save)
    else:
        monkeypatch.setattr(ckpt.tempfile, "mkstemp", failing_mkstemp)
    run = tmp_path / "run"
    with pytest.raises(LabError) as err:
        train([*TINY, "trainer.eval_every=0"], run)  # checkpoints: last.pt at 1024, then 2048
    last = run / "checkpoints" / "last.pt"
    strerror = "No space left on device" if code == errno.ENOSPC else "Read-only file system"
    assert str(err.value) == (f"could not write checkpoint {last} at step 2,048: {strerror}; "
                              f"the previous checkpoint {last} is intact")
    assert ckpt.load(last)["step"] == 1024  # the good one, whole
    assert [p.name for p in last.parent.iterdir()] == ["last.pt"]  # no temporary file left behind
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "failed" and "could not write checkpoint" in result["error"]


# ---------------------------------------------------------------------- W&B raises or hangs
FAKE_WANDB = """
import time

BEHAVIOUR = {behaviour!r}


class Settings:
    def __init__(self, **kwargs): ...


class Run:
    summary: dict = {{}}
    url = None
    dir = "/nowhere/files"

    def define_metric(self, *a, **k): ...

    def log(self, payload):
        if BEHAVIOUR == "log raises":
            raise ConnectionError("wandb: network is unreachable")
        if BEHAVIOUR == "log hangs":
            time.sleep(3600)

    def finish(self): ...


def setup(): ...


def init(**kwargs):
    if BEHAVIOUR == "init raises":
        raise ConnectionError("wandb: network is unreachable")
    if BEHAVIOUR == "init hangs":
        time.sleep(3600)
    return Run()
"""


def fake_wandb(behaviour: str, root: Path) -> Path:
    """A wandb package whose init or log raises, or hangs (a dead network), for W&B's worker
    process to import: put `root` first on its PYTHONPATH."""
    (root / "wandb").mkdir(parents=True)
    (root / "wandb" / "__init__.py").write_text(FAKE_WANDB.format(behaviour=behaviour))
    return root


@pytest.mark.parametrize("links", [True, False], ids=["hard-link", "copy"])
def test_a_kill_at_any_instant_of_a_checkpoint_write_leaves_last_pt_whole(links: bool, tmp_path: Path,
                                                                           monkeypatch) -> None:
    # the kill loops (test_kill.py) hit this window by chance: die at each file operation of
    # save(keep_previous=True) in turn; last.pt must load after every one, old or new
    path = tmp_path / "last.pt"
    ckpt.save({"step": 1}, path)
    if not links:  # a file system without hard links: prev.pt is a copy
        monkeypatch.setattr(ckpt.os, "link", lambda *a: (_ for _ in ()).throw(OSError(errno.EPERM, "no links")))
    real = {name: getattr(ckpt.os, name) for name in ("replace", "link", "fsync")}
    good = 1
    for die_at in range(5):  # save makes 3 (copy) or 4 (link) of these calls, then its dir fsync
        calls = []

        def dying(name: str):
            def op(*args):
                calls.append(name)
                if len(calls) > die_at:
                    raise KeyboardInterrupt("killed")
                return real[name](*args)
            return op

        with monkeypatch.context() as m:
            for name in real:
                if links or name != "link":
                    m.setattr(ckpt.os, name, dying(name))
            try:
                ckpt.save({"step": 10 + die_at}, path, keep_previous=True)
            except KeyboardInterrupt:
                pass
        state, loaded_from, _ = ckpt.load_for_resume(path)
        assert loaded_from == path, (die_at, calls)  # never a fall-back to prev.pt
        assert state["step"] in (good, 10 + die_at), (die_at, calls)
        assert not list(tmp_path.glob(".*.tmp")), (die_at, calls)  # a write that died cleans up
        good = state["step"]
    assert good == 14  # the last attempt outlived every call
    ckpt.save({"step": 20}, path, keep_previous=True)
    assert ckpt.load(path)["step"] == 20 and ckpt.load(path.with_name("prev.pt"))["step"] == 14


@pytest.mark.parametrize("behaviour", ["init raises", "init hangs", "log raises", "log hangs"])
def test_wandb_that_raises_or_hangs_never_stops_or_slows_training(behaviour: str, tmp_path: Path,
                                                                  monkeypatch) -> None:
    from lab.core import loggers

    fake = fake_wandb(behaviour, tmp_path / "fake")
    monkeypatch.setenv("PYTHONPATH", f"{fake}:{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setattr(loggers.WandbLogger, "STALL_S", 1.0)
    spent = {"s": 0.0}  # time the training thread spends in W&B calls
    for name in ("log", "summary", "video"):
        original = getattr(loggers.WandbLogger, name)

        def timed(self, *a, _original=original, **k):
            t0 = time.perf_counter()
            try:
                return _original(self, *a, **k)
            finally:
                spent["s"] += time.perf_counter() - t0
        monkeypatch.setattr(loggers.WandbLogger, name, timed)
    workers = []
    close = loggers.WandbLogger.close
    monkeypatch.setattr(loggers.WandbLogger, "close", lambda self, *a: (workers.append(self), close(self, *a))[1])
    overrides = [*TINY, "trainer.total_steps=16384", "trainer.eval_every=8192"]  # a metrics line every tick
    t0 = time.perf_counter()
    result = train([*overrides, "wandb.mode=offline"], tmp_path / "run")
    total = time.perf_counter() - t0
    assert result["completed"] and result["steps"] == 16384
    assert spent["s"] < 0.03 * result["wall_time_s"], spent  # queue puts only: W&B never sits on the loop
    assert total < result["wall_time_s"] + 30  # a hung W&B is stopped once stalled, not waited on
    (logger,) = workers
    assert logger.proc.poll() is not None  # W&B's worker process never outlives the run
    assert logger.failed  # reported in one warning (a hang: the stall's)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) >= 16 and json.loads(lines[-1])["step"] == 16384  # local logs are complete


# ---------------------------------------------------------------------- an env crashes mid-episode
class CrashingCartPole(gym.Wrapper):
    """CartPole that raises in the middle of its third episode."""

    def __init__(self) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.episodes, self.t = 0, 0

    def reset(self, **kwargs):
        self.episodes, self.t = self.episodes + 1, 0
        return self.env.reset(**kwargs)

    def step(self, action):
        self.t += 1
        if self.episodes == 3 and self.t == 5:
            raise RuntimeError("physics exploded")
        return self.env.step(action)


def test_an_env_that_raises_mid_episode_is_reported_with_its_id_and_seed(tmp_path: Path) -> None:
    from envs import EnvStepError
    from lab.run import train as lab_train

    gym.register("LabTest/CrashingCartPole-v0", entry_point=CrashingCartPole, max_episode_steps=500)
    try:
        overrides = [*QUIET, "agent=ppo", "env=gym", "env.id=LabTest/CrashingCartPole-v0", "env.num_envs=1",
                     "env.vectorization=sync", "seed=7", "agent.n_steps=16", "agent.batch_size=16",
                     "trainer.total_steps=2000"]
        with pytest.raises(EnvStepError) as err:
            lab_train(compose(overrides), tmp_path / "run", overrides=overrides)
    finally:
        gym.registry.pop("LabTest/CrashingCartPole-v0", None)
    assert str(err.value) == ("env LabTest/CrashingCartPole-v0 (seed=7, 1 envs) raised during training, after 2 "
                              "finished episodes: RuntimeError: physics exploded")
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "failed" and "LabTest/CrashingCartPole-v0 (seed=7" in result["error"]


# ---------------------------------------------------------------------- safe loading
class Payload:
    def __reduce__(self):  # what a malicious checkpoint carries: a call made while unpickling
        return (shutil.rmtree, ("/definitely/not/here",))


def test_a_checkpoint_carrying_pickled_code_is_refused(tmp_path: Path, tiny_ppo) -> None:
    from lab.watch import main as watch_main

    run = tmp_path / "run"
    train(tiny_ppo, run)
    evil = run / "checkpoints" / "evil.pt"
    torch.save({"format": ckpt.FORMAT, "step": 1, "learner": Payload()}, evil)
    expected = (f"checkpoint {evil} holds pickled objects, not plain tensors and data (it would call "
                f"shutil.rmtree); refusing to load it (the lab loads checkpoints with weights_only=True)")
    with pytest.raises(LabError) as err:
        ckpt.load(evil)
    assert str(err.value) == expected
    assert watch_main([str(evil), "--episodes", "1", "--no-video"]) == 2
    with pytest.raises(LabError, match="refusing to load it"):
        train([*tiny_ppo, f"trainer.resume={evil}"], tmp_path / "other")


def test_configs_read_back_may_not_name_foreign_code(tmp_path: Path, tiny_ppo, capsys) -> None:
    """watch, resume and report refuse a run whose config asks to import a module outside the lab."""
    from omegaconf import OmegaConf

    from lab.report import main as report_main
    from lab.watch import main as watch_main

    run = tmp_path / "sweep" / "0_run"
    train(tiny_ppo, run)
    config = run / ".hydra" / "config.yaml"
    saved = OmegaConf.load(config)
    saved.env.id = "os:CartPole-v1"  # gymnasium would `import os` to make this env
    OmegaConf.save(saved, config)
    assert watch_main([str(run), "--episodes", "1", "--no-video"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lab.watch: error: the config in {config} asks to import 'os' (env.id=os:CartPole-v1), "
                   f"which is outside the lab's packages and its allow-list (lab, agents, envs, torch.optim, "
                   f"gymnasium, ale_py, gym_super_mario_bros, shimmy); refusing it (trust a package with "
                   f"LAB_TRUSTED_MODULES=os)"]
    saved.env.id = "CartPole-v1"
    saved.callback = {"_target_": "subprocess.run", "args": ["true"]}
    OmegaConf.save(saved, config)
    assert report_main([str(tmp_path / "sweep")]) == 2
    assert "asks to import 'subprocess' (callback._target_=subprocess.run)" in capsys.readouterr().err
    # resume: the checkpoint's own config is checked the same way
    state = ckpt.load(run / "checkpoints" / "last.pt")
    state["config"] = state["config"].replace("id: CartPole-v1", "id: evilpkg:CartPole-v1")
    ckpt.save(state, run / "checkpoints" / "last.pt")
    before = files(run)
    with pytest.raises(LabError, match="asks to import 'evilpkg'"):
        train([*tiny_ppo, "trainer.resume=auto"], run)
    assert files(run) == before  # refused before anything was written


def test_two_processes_never_share_a_run_directory(tmp_path: Path, tiny_ppo) -> None:
    from lab.rundir import lock as _lock

    run = tmp_path / "run"
    held = _lock(run)  # another process is training here
    try:
        with pytest.raises(LabError) as err:
            train(tiny_ppo, run)
        assert str(err.value) == (f"{run} is in use by another lab process; wait for it to finish or choose "
                                  f"another hydra.run.dir")
        assert list(run.iterdir()) == []  # nothing written
    finally:
        import os

        os.close(held)
    assert train(tiny_ppo, run)["completed"]  # free again once the other process is gone
    np.testing.assert_equal(json.loads((run / "result.json").read_text())["steps"], 2048)
