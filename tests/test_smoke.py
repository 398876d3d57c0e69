"""Smoke runs: every learner feature runs end to end and writes the run directory a user relies on."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import cli, train

from lab.core import checkpoint as ckpt


def test_cli_run_writes_the_documented_run_directory(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = cli(["agent=ppo", "env=cartpole", "trainer.total_steps=4096", "trainer.eval_every=2048",
                "env.eval_episodes=3", "trainer.log_every=0", "wandb.mode=disabled", f"hydra.run.dir={run}"])
    assert proc.returncode == 0, proc.stderr
    assert (run / ".hydra" / "config.yaml").is_file() and (run / ".hydra" / "overrides.yaml").is_file()
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert all("step" in l and "time_s" in l for l in lines)
    assert any("train/episode_return" in l for l in lines)
    evals = [l for l in lines if "eval/return_mean" in l]
    assert [l["step"] for l in evals] == [2048, 4096]
    result = json.loads((run / "result.json").read_text())
    assert result["completed"] and result["steps"] == 4096 and result["wall_time_s"] > 0
    assert result["final"]["return_mean"] == evals[-1]["eval/return_mean"]
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "checkpoints" / "best.pt").is_file()
    state = ckpt.load(run / "checkpoints" / "last.pt")  # loads with weights_only=True
    assert state["step"] == 4096 and "rng" in state and "optimizers" in state and state["wandb_id"]
    assert "eval at step 4,096" in proc.stderr and "completed" in proc.stderr
    assert "no tuned preset" not in proc.stderr  # ppo_cartpole ships one


def test_a_single_run_writes_what_hydras_own_run_writes(tmp_path: Path) -> None:
    """`python -m lab` trains a single run from its preflight's composition (composing once, not
    three times); the same overrides run as a one-job sweep by Hydra give the same job config,
    overrides and result, and Hydra's settings for the run are saved too."""
    import yaml

    args = ["agent=ppo", "env=cartpole", "trainer.total_steps=1024", "trainer.eval_every=0", "agent.lr=0.002",
            "env.eval_episodes=2", "wandb.mode=disabled", "seed=3"]
    single = tmp_path / "single"
    proc = cli([*args, f"hydra.run.dir={single}"])
    assert proc.returncode == 0, proc.stderr
    proc = cli(["-m", *args, f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.sweep.subdir=job"])
    assert proc.returncode == 0, proc.stderr
    swept = tmp_path / "sweep" / "job"
    for name in ("config.yaml", "overrides.yaml"):
        assert (single / ".hydra" / name).read_text() == (swept / ".hydra" / name).read_text(), name
    hydra = yaml.safe_load((single / ".hydra" / "hydra.yaml").read_text())["hydra"]
    assert hydra["runtime"]["output_dir"] == str(single) and hydra["runtime"]["choices"]["agent"] == "ppo"
    results = [json.loads((d / "result.json").read_text()) for d in (single, swept)]
    assert results[0]["final"] == results[1]["final"] and results[0]["steps"] == results[1]["steps"] == 1024


def test_a_pair_without_a_tuned_preset_says_so(tmp_path: Path) -> None:
    """An arbitrary env=gym id runs PPO's defaults: the run says so at the start (console and train.log)."""
    run = tmp_path / "run"
    proc = cli(["agent=ppo", "env=gym", "env.id=MountainCarContinuous-v0", "trainer.total_steps=256",
                "agent.n_steps=16", "agent.batch_size=64", "env.eval_episodes=1", "wandb.mode=disabled",
                "env.max_episode_steps=20", f"hydra.run.dir={run}"])
    assert proc.returncode == 0, proc.stderr
    line = ("no tuned preset for ppo on MountainCarContinuous-v0 (agent_env/ppo_gym.yaml): "
            "using ppo's defaults and the command line")
    assert " ".join(proc.stderr.split()).startswith(line)  # the first line (rich may wrap it)
    assert line in (run / "train.log").read_text()


def test_launches_in_the_same_second_get_their_own_run_directories(tmp_path: Path, monkeypatch) -> None:
    # a shell loop over seeds starts runs of the same agent and env within one second; Hydra's
    # name has second resolution, so each launch claims its directory: here three launches at a
    # frozen 10:00:00
    import datetime as dt

    from lab.__main__ import CONF_DIR, _claim_output_dir
    from lab.config import register_configs
    from lab.preflight import check_overrides

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206
            return dt.datetime(2026, 1, 2, 10, 0, 0)

    monkeypatch.setattr("hydra.core.utils.datetime", Frozen)
    register_configs()  # as `python -m lab` does first
    runs = tmp_path / "it's runs"  # a quote and a space survive Hydra's override parser
    argv = ["agent=ppo", "env=cartpole", f'runs_dir="{runs}"']
    claims = [_claim_output_dir(argv, check_overrides(CONF_DIR, argv)[1])[-1] for _ in range(3)]
    day = runs / "2026-01-02"
    assert claims == [f"hydra.run.dir='{str(day / name).replace(chr(39), chr(92) + chr(39))}'"
                      for name in ("10-00-00_ppo_cartpole", "10-00-00_ppo_cartpole_2", "10-00-00_ppo_cartpole_3")]
    assert sorted(p.name for p in day.iterdir()) == ["10-00-00_ppo_cartpole", "10-00-00_ppo_cartpole_2",
                                                      "10-00-00_ppo_cartpole_3"]
    assert not any(any(d.iterdir()) for d in day.iterdir())
    # the claimed, quoted directory is where Hydra runs the job
    proc = cli(["agent=ppo", "env=cartpole", "trainer.total_steps=512", "trainer.eval_every=0",
                "env.eval_episodes=1", "wandb.mode=disabled", f'runs_dir="{runs}"'])
    assert proc.returncode == 0, proc.stderr
    made = [d for d in runs.glob("*/*") if (d / "result.json").is_file()]
    assert len(made) == 1 and made[0].parent.name != "2026-01-02"
    assert (made[0] / ".hydra" / "overrides.yaml").is_file()
    assert not any(any(d.iterdir()) for d in day.iterdir())  # nothing written into the claims above


def test_a_run_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a directory")
    proc = cli(["agent=ppo", "env=cartpole", f"runs_dir={tmp_path / 'a_file' / 'runs'}"])
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lab: error: cannot create the run directory {tmp_path}/a_file/runs/")
    assert lines[0].endswith(": Not a directory (set runs_dir=... or hydra.run.dir=...)")


@pytest.mark.parametrize("extra", [
    ["trainer.precision=bf16"],
    ["trainer.compile=true", "trainer.total_steps=1024"],
    ["agent.clip_range_vf=0.2", "agent.target_kl=0.01", "agent.normalize_obs=true", "agent.normalize_reward=true",
     "agent.anneal_lr=false", "agent.activation=relu"],
    ["env.vectorization=async", "env.num_envs=2", "agent.batch_size=64"],
    ["logger=tensorboard"],
])
def test_ppo_options_run(extra: list[str], tmp_path: Path, tiny_ppo) -> None:
    result = train(tiny_ppo + extra, tmp_path / "run")
    assert result["completed"]
    assert np.isfinite(result["final"]["return_mean"])
    if "logger=tensorboard" in extra:
        assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_continuous_actions_stay_in_bounds(tmp_path: Path) -> None:
    result = train(["env=pendulum", "trainer.total_steps=2048", "trainer.eval_every=0", "env.eval_episodes=1",
                    "env.num_envs=2", "agent.n_steps=256", "agent.batch_size=128"], tmp_path / "run")
    assert result["completed"] and -2000 < result["final"]["return_mean"] <= 0


class _ImageEnv(gym.Env):
    """A tiny pixel env: the bright half of the image tells which action is rewarded."""

    observation_space = gym.spaces.Box(0, 255, (1, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        self.side = int(self.np_random.integers(2))
        img = np.zeros((1, 84, 84), np.uint8)
        img[:, :, 42 * self.side:42 * (self.side + 1)] = 255
        return img

    def step(self, action):
        reward = float(action == self.side)
        self.t += 1
        return self._obs(), reward, False, self.t >= 16, {}


def test_cnn_policy_on_pixels(tmp_path: Path) -> None:
    gym.register("LabTest/Image-v0", entry_point=_ImageEnv)
    result = train(["env=gym", "env.id=LabTest/Image-v0", "env.num_envs=2", "agent.n_steps=32", "agent.batch_size=32",
                    "trainer.total_steps=256", "trainer.eval_every=0", "env.eval_episodes=2"], tmp_path / "run")
    assert result["completed"]
    state = ckpt.load(tmp_path / "run" / "checkpoints" / "last.pt")
    assert any(k.startswith("encoder.conv") for k in state["learner"]["policy"])


def test_nan_loss_stops_with_phase_and_step_and_keeps_last_checkpoint(tmp_path: Path, tiny_ppo, monkeypatch) -> None:
    from agents.ppo import PPO
    from lab.core.trainer import NonFiniteError

    original = PPO.losses

    def poisoned(self, phase, batch):
        for loss in original(self, phase, batch):
            yield loss * float("nan") if self_step[0] >= 1024 else loss

    self_step = [0]
    monkeypatch.setattr(PPO, "losses", poisoned)
    hook = lambda trainer: self_step.__setitem__(0, trainer.step)
    with pytest.raises(NonFiniteError, match=r"phase 'update' at step 1,536"):
        train(tiny_ppo + ["agent.n_steps=32", "env.num_envs=16"], tmp_path / "run", hooks={"on_tick": [hook]})
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "failed" and "non-finite" in result["error"]
    state = ckpt.load(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["step"] == 1024  # the last good checkpoint, not a poisoned one
    assert all(torch.isfinite(v).all() for v in state["learner"]["policy"].values())


def test_unknown_env_id_and_wrong_action_space_fail_with_one_line(tmp_path: Path) -> None:
    proc = cli(["env=gym", "env.id=CartPole-v9", "wandb.mode=disabled", f"hydra.run.dir={tmp_path / 'a'}"])
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("lab: error: unknown env id")
    assert "CartPole-v1" in proc.stderr and "Traceback" not in proc.stderr
