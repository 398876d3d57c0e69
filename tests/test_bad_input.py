"""The bad-input corpus: every case exits non-zero with exactly one line, the one below.

Each line names the problem and, where there are valid choices, lists them. Nothing in an
existing run directory changes: every case runs beside a finished run and checks it afterwards.
Cases that fail in the preflight do so without importing torch (well under a second or two).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, train

AGENT_KEYS = ("learner, name, policy, lstm_hidden, hidden_sizes, activation, ortho_init, lr, anneal_lr, n_steps, batch_size, n_epochs, "
              "gamma, gae_lambda, clip_range, clip_range_vf, ent_coef, vf_coef, max_grad_norm, normalize_advantage, "
              "target_kl, normalize_obs, normalize_reward, clip_obs, log_std_init")
TRAINER_KEYS = ("total_steps, eval_every, checkpoint_every, log_every, stop_at, resume, device, "
                "precision, compile, threads, deterministic, distributed, time_limit_min, video_every")

# python -m lab ARGS  ->  the line it prints ({tmp}: the test's scratch directory)
OVERRIDES = [
    (["env=cartpol"], "unknown env 'cartpol'; choose one of: acrobot, atari, cartpole, cartpole_novel, gym, lunarlander, "
                      "mario, mountaincar, mountaincar_continuous, none, pendulum, smb (did you mean 'cartpole'?)"),
    (["agent=sac"], "unknown agent 'sac'; choose one of: bc, cgan, dcgan, dqn, gail, gan, ppo, sb3_a2c, sb3_dqn, sb3_ppo, "
                    "sb3_recurrent_ppo, sb3_sac, sngan, wgan_gp (did you mean 'sb3_sac'?)"),
    (["data=mnistt"], "unknown data 'mnistt'; choose one of: cifar10, digits, fashion_mnist, grid25, image_folder, "
                      "mario_levels, mnist, none, ring8 (did you mean 'mnist'?)"),
    (["-m", "hydra/launcher=nosuch", "seed=0,1"],
     "unknown hydra/launcher 'nosuch'; choose one of: basic, joblib, local, ray, slurm, submitit_local, submitit_slurm"),
    (["agent.lrr=1"], f"unknown key 'agent.lrr' (did you mean 'lr'?); valid keys in agent: {AGENT_KEYS}"),
    (["trainer.foo=1"], f"unknown key 'trainer.foo'; valid keys in trainer: {TRAINER_KEYS}"),
    (["env.nonsense=3"], "unknown key 'env.nonsense'; valid keys in env: name, id, num_envs, vectorization, "
                         "max_episode_steps, eval_episodes, kwargs"),
    # env.kwargs is free-form: the line says how to add a keyword argument (Hydra's '+')
    (["env=mario", "env.kwargs.grid_status=true"], "unknown key 'env.kwargs.grid_status'; env.kwargs holds keyword "
                                                   "arguments passed on as they are: add one with "
                                                   "'+env.kwargs.grid_status=VALUE'"),
    # keys that moved (issue 14) name their new place
    (["trainer.eval_episodes=5"], "trainer.eval_episodes is now env.eval_episodes"),
    (["trainer.stop_return=100"], "trainer.stop_return is now trainer.stop_at"),
    (["wandb.mod=offline"], "unknown key 'wandb.mod' (did you mean 'mode'?); valid keys in wandb: mode, project, "
                            "entity, group, tags"),
    (["trainer.total_steps=abc"], "trainer.total_steps: Value 'abc' of type 'str' could not be converted to Integer"),
    (["trainer.compile=maybe"], "trainer.compile: Value 'maybe' is not a valid bool (type str)"),
    (["seed=1.5"], "seed: Value '1.5' of type 'float' could not be converted to Integer"),
    (["agent.lr=-0.001"], "agent.lr=-0.001 is out of range: it must be > 0"),
    (["agent.lr=0"], "agent.lr=0.0 is out of range: it must be > 0"),
    (["trainer.total_steps=0"], "trainer.total_steps=0 is out of range: it must be > 0"),
    (["trainer.total_steps=-5"], "trainer.total_steps=-5 is out of range: it must be > 0"),
    (["env.eval_episodes=0"], "env.eval_episodes=0 is out of range: it must be > 0"),
    (["trainer.checkpoint_every=-1"], "trainer.checkpoint_every=-1 is out of range: it must be >= 0"),
    (["env.num_envs=0"], "env.num_envs=0 is out of range: it must be > 0"),
    (["agent=ppo", "env=mario", "env.level=procedural", "env.train_levels=-1"],
     "env.train_levels=-1 is out of range: it must be >= 0"),
    (["agent.n_steps=0"], "agent.n_steps=0 is out of range: it must be > 0"),
    (["agent.batch_size=0"], "agent.batch_size=0 is out of range: it must be > 0"),
    (["agent.batch_size=100000"], "agent.batch_size=100000 is larger than one rollout (agent.n_steps x env.num_envs "
                                  "= 256)"),
    (["agent=dqn", "agent.buffer_size=0"], "agent.buffer_size=0 is out of range: it must be > 0"),
    (["agent=dqn", "agent.gamma=1.5"], "agent.gamma=1.5 is out of range: it must be <= 1"),
    (["agent=gan", "agent.z_dim=0"], "agent.z_dim=0 is out of range: it must be > 0"),
    (["agent=gan", "agent.batch_size=0"], "agent.batch_size=0 is out of range: it must be > 0"),
    (["agent=gan", "agent.loss=l1"], "agent.loss=l1 is not a valid choice; choose one of: bce, hinge, wasserstein, mse"),
    (["agent=gan", "agent.g_activation=gelu"],
     "agent.g_activation=gelu is not a valid choice; choose one of: relu, leaky_relu, tanh, sigmoid, swish"),
    (["trainer.device=tpu"], "trainer.device=tpu is not a valid choice; choose one of: auto, cpu, cuda, mps"),
    (["trainer.precision=fp8"], "trainer.precision=fp8 is not a valid choice; choose one of: 32, bf16, fp16"),
    (["wandb.mode=on"], "wandb.mode=on is not a valid choice; choose one of: null, online, offline, disabled"),
    (["trainer.distributed=mpi"], "trainer.distributed=mpi is not a valid choice; choose one of: none, ddp"),
    (["agent=ppo", "trainer.distributed=ddp"],
     "trainer.distributed=ddp needs a learner with a data-parallel mode (agent=cgan, dcgan, gan, sngan, wgan_gp); "
     "agent=ppo trains in one process"),
    (["agent=gan", "env=cartpole"],
     "agent=gan learns from data=..., not env=CartPole-v1 (drop the env override)"),
    (["agent=ppo", "data=digits"],
     "agent=ppo learns from env=..., not data=digits (drop the data override)"),
    (["seed=0,1"], "Ambiguous value for argument 'seed=0,1': to sweep over values add -m (python -m lab -m key=a,b)"),
    (["trainer.video_every=sometimes"], "trainer.video_every=sometimes is not valid; use auto or a whole number >= 0"),
    (["trainer.resume={tmp}/nothing.pt"],
     "trainer.resume: checkpoint not found: {tmp}/nothing.pt (give a .pt file, a run directory, or auto)"),
]

# past the preflight: the agent, env or data files are checked as they are built (torch imported)
BUILT = [
    (["agent=dqn", "env=pendulum"], "agent=dqn cannot learn Pendulum-v1: DQN needs a Discrete action space (one "
                                    "Q-value per action), not Box(-2.0, 2.0, (1,), float32)"),
    (["agent=sb3_sac", "env=cartpole"],
     "agent=sb3_sac cannot learn CartPole-v1: SB3 SAC needs a continuous (Box) action space, not Discrete(2)"),
    (["agent=gan", "data=ring8", "data.image_size=32"], "ring8 is a 2-D point set; image_size does not apply"),
    (["agent=ppo", "env=mario", "env.level=nosuchlevel"],
     "unknown level 'nosuchlevel': expected one of intro, pits, enemies, stairs, 'procedural', the path of a "
     "level file or of a folder of them, or a list of those"),
    (["agent=ppo", "env=mario", "env.level={tmp}/broken_level.txt"],
     "{tmp}/broken_level.txt, line 1, column 1: no start 'M', and column 1 has no floor to start on"),
    (["agent=ppo", "env=mario", "env.level={tmp}/levels"],
     "{tmp}/levels/b_broken.txt, line 2, column 4: unknown tile character 'Z'"),
    (["agent=ppo", "env=mario", "env.level={tmp}/empty"], "{tmp}/empty: no level files (*.txt) in this folder"),
    (["agent=ppo", "env=mario", "env.level=procedural", "env.train_levels=10", "env.difficulty=[0.8,0.2]"],
     "difficulty range [0.8, 0.2] has low > high"),
    (["agent=ppo", "env=mario", "env.level=[intro,procedural]", "env.train_levels=0"],
     "train_levels=0 (unbounded procedural levels) cannot be mixed with other levels in a list; give "
     "train_levels=N for N procedural levels"),
    (["agent=ppo", "env=mario", "env.level=[intro,pits]", "env.eval_levels=[stairs,pits]"],
     "eval level pits is also a training level: held-out evaluation needs levels training never plays"),
    (["agent=dcgan", "data=mnist", "data.root={tmp}/empty", "data.download=false"],
     "mnist: missing train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz in {tmp}/empty (gzipped or not; also "
     "looked in {tmp}/empty/MNIST/raw); place the standard IDX files there or pass download=True with network "
     "access"),
    (["agent=dcgan", "data=mnist", "data.root={tmp}/badmnist", "data.download=false"],
     "{tmp}/badmnist/train-images-idx3-ubyte: truncated IDX header (11 bytes, need 16)"),
    (["agent=dcgan", "data=image_folder", "data.root={tmp}/empty"], "{tmp}/empty: no images (.jpeg, .jpg, .png) found"),
    (["agent=dcgan", "data=cifar10", "data.root={tmp}/cifar"],
     "{tmp}/cifar/cifar-10-batches-py/data_batch_1: not a valid CIFAR pickle (UnpicklingError: invalid load key, "
     "'n'.)"),
]

# the other entry points: python -m MODULE ARGS -> "MODULE: error: LINE"
TOOLS = [
    ("lab.report", ["{tmp}/no_such_dir"], "{tmp}/no_such_dir is not a directory"),
    ("lab.report", ["{tmp}/empty"], "no runs under {tmp}/empty (a run has .hydra/config.yaml and metrics.jsonl)"),
    ("lab.tune", ["no_such_space"],
     "unknown search space 'no_such_space'; choose one of: gan_ring8, ppo_cartpole (or a .yaml path)"),
    ("lab.tune", ["{tmp}/nope.yaml"], "search space file not found: {tmp}/nope.yaml"),
    ("lab.tune", ["{tmp}/no_overrides.yaml"], "{tmp}/no_overrides.yaml: missing 'overrides'"),
    ("lab.tune", ["{tmp}/bad_type.yaml"], "{tmp}/bad_type.yaml: space.agent.lr.type must be float, int or categorical"),
    ("lab.tune", ["{tmp}/no_high.yaml"], "{tmp}/no_high.yaml: space.agent.lr (float) needs high"),
    ("lab.tune", ["{tmp}/not_yaml.yaml"], "{tmp}/not_yaml.yaml, line 1, column 24: not valid YAML (expected ',' or ']', but got '}')"),
    ("lab.watch", ["{tmp}/no_such_run"],
     "no run at {tmp}/no_such_run: it does not exist (give a run directory, a checkpoint .pt file or latest)"),
    ("lab.watch", ["{tmp}/runs/done", "--checkpoint", "{tmp}/nothing.pt"],
     "--checkpoint {tmp}/nothing.pt: no such checkpoint file"),
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """Bad files to point at, and a finished run that no case may touch."""
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "empty").mkdir()
    (tmp / "broken_level.txt").write_text("---\n--X\n")
    (tmp / "levels").mkdir()  # a level folder with one good file and one broken one
    (tmp / "levels" / "a_good.txt").write_text("-----\n-M--F\nXXXXX\n")
    (tmp / "levels" / "b_broken.txt").write_text("-----\n-M-Z-\nXXXXX\n")
    batches = tmp / "cifar" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (batches / name).write_bytes(b"not a pickle")
    (tmp / "badmnist").mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (tmp / "badmnist" / name).write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 7)
    (tmp / "no_overrides.yaml").write_text("metric: eval/return_mean\nspace: {}\n")
    (tmp / "bad_type.yaml").write_text("overrides: []\nmetric: m\nspace:\n  agent.lr: {type: normal}\n")
    (tmp / "no_high.yaml").write_text("overrides: []\nmetric: m\nspace:\n  agent.lr: {type: float, low: 0.1}\n")
    (tmp / "not_yaml.yaml").write_text("space: {agent.lr: [1, 2}\n")
    train(["agent=ppo", "env=cartpole", "trainer.total_steps=1024", "trainer.eval_every=0",
           "env.eval_episodes=2"], tmp / "runs" / "done")
    return tmp


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_module(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_SILENT": "true"}
    env.pop("DISPLAY", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def check(proc: subprocess.CompletedProcess, prefix: str, expected: str, scratch: Path,
          before: dict[str, tuple[int, bytes]]) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.strip().splitlines() == [f"{prefix}: error: {expected.replace('{tmp}', str(scratch))}"]
    assert snapshot(scratch / "runs") == before  # the finished run is untouched


@pytest.mark.parametrize("args,expected", OVERRIDES + BUILT, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_lab_rejects_bad_input_with_one_exact_line(args: list[str], expected: str, scratch: Path,
                                                   tmp_path: Path) -> None:
    before = snapshot(scratch / "runs")
    args = [a.replace("{tmp}", str(scratch)) for a in args]
    where = ([f"hydra.sweep.dir={tmp_path / 'sweep'}"] if "-m" in args
             else [f"hydra.run.dir={tmp_path / 'run'}", f"runs_dir={scratch / 'runs'}"])
    proc = run_module("lab", [*args, *where, "wandb.mode=disabled"] if "wandb.mode=on" not in args
                      else [*args, *where], ROOT)
    check(proc, "lab", expected, scratch, before)
    assert not (tmp_path / "sweep").exists()
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.parametrize("module,args,expected", TOOLS, ids=lambda v: v if isinstance(v, str) and " " not in v else "")
def test_tools_reject_bad_input_with_one_exact_line(module: str, args: list[str], expected: str,
                                                    scratch: Path) -> None:
    before = snapshot(scratch / "runs")
    proc = run_module(module, [a.replace("{tmp}", str(scratch)) for a in args], scratch)
    check(proc, module, expected, scratch, before)


def test_the_corpus_is_large_enough() -> None:
    assert len(OVERRIDES) + len(BUILT) >= 30 and len(TOOLS) >= 8
