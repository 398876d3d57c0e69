"""Config tier: every agent x env pair composes and validates; bad overrides fail at start with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONF, ROOT, cli, compose

AGENTS = sorted(p.stem for p in (Path(CONF) / "agent").glob("*.yaml"))
ENVS = sorted(p.stem for p in (Path(CONF) / "env").glob("*.yaml") if p.stem != "none")
DATA = sorted(p.stem for p in (Path(CONF) / "data").glob("*.yaml") if p.stem != "none")


def _required(agent: str) -> list[str]:
    """The keys an agent cannot run without (imitation learners: their demos file)."""
    return ["agent.demos=demos.npz"] if agent in ("gail", "bc") else []


@pytest.mark.parametrize("agent", AGENTS)
def test_every_agent_source_pair_composes_and_validates(agent: str) -> None:
    """Learners from envs with every env, from data with every dataset (their schema's learns_from);
    the other pairing is one clear error."""
    from omegaconf import OmegaConf

    from lab.config import validate

    learns_from = OmegaConf.get_type(compose([f"agent={agent}"]).agent).learns_from
    good, bad = (("data", DATA), ("env", ENVS)) if learns_from == ("data",) else (("env", ENVS), ("data", DATA))
    for source in good[1]:
        cfg = compose([f"agent={agent}", f"{good[0]}={source}", *_required(agent)])
        assert cfg.agent.name == agent
        assert validate(cfg) is None, (agent, source)
    error = validate(compose([f"agent={agent}", f"{bad[0]}={bad[1][0]}"]))
    assert error and f"agent={agent}" in error and f"{good[0]}=" in error


def test_contract_keys_exist() -> None:
    cfg = compose([])
    for key in ("seed", "trainer.total_steps", "trainer.eval_every", "env.eval_episodes",
                "trainer.checkpoint_every", "trainer.resume", "trainer.device", "trainer.precision",
                "trainer.compile", "wandb.mode", "wandb.project"):
        node = cfg
        for part in key.split("."):
            assert part in node, key
            node = node[part]
    assert cfg.agent.name == "ppo" and cfg.env.id == "CartPole-v1"  # the default run


def test_presets_apply_and_user_overrides_win() -> None:
    preset = compose(["agent=ppo", "env=cartpole"])
    assert preset.trainer.stop_at == 475  # from agent_env/ppo_cartpole.yaml
    user = compose(["agent=ppo", "env=cartpole", "agent.lr=0.123"])
    assert user.agent.lr == 0.123


def _leaves(node, prefix: str = ""):
    """(dotted key, value) of every leaf of a plain dict/list tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}{k}.")
    else:
        yield prefix[:-1], node


PAIR_PRESETS = sorted(
    (p.stem, agent, p.stem[len(agent) + 1:])
    for p in (Path(CONF) / "agent_env").glob("*.yaml")
    for agent in AGENTS if p.stem.startswith(agent + "_") and p.stem[len(agent) + 1:] in ENVS)


def test_pair_presets_include_the_mountaincar_ones() -> None:
    names = {name for name, _, _ in PAIR_PRESETS}
    assert {"dqn_mountaincar", "ppo_mountaincar"} <= names


@pytest.mark.parametrize("name,agent,env", PAIR_PRESETS, ids=[p[0] for p in PAIR_PRESETS])
def test_every_pair_preset_loads_for_its_pair_and_validates(name: str, agent: str, env: str) -> None:
    """`agent=A env=E` picks up agent_env/A_E.yaml: every value the preset sets is in the composed config."""
    from omegaconf import OmegaConf

    from lab.config import validate

    cfg = compose([f"agent={agent}", f"env={env}", *_required(agent)])
    assert validate(cfg) is None, name
    preset = OmegaConf.to_container(OmegaConf.load(Path(CONF) / "agent_env" / f"{name}.yaml"))
    composed = OmegaConf.to_container(cfg, resolve=True)
    for key, value in _leaves(preset):
        node = composed
        for part in key.split("."):
            node = node[part]
        assert node == value, (name, key)


# Bad overrides, each with the exact line it prints: tests/test_bad_input.py.


def test_sweep_values_are_each_validated(tmp_path: Path) -> None:
    proc = cli(["-m", "agent.lr=1e-3,-1", f"hydra.sweep.dir={tmp_path}"], timeout=60)
    assert proc.returncode == 2 and "agent.lr=-1" in proc.stderr


PROBE = """
import runpy, sys
sys.argv = ["lab", *{args!r}]
try:
    runpy.run_module("lab", run_name="__main__")
except SystemExit:
    pass
heavy = [m for m in ("torch", "wandb", "stable_baselines3") if m in sys.modules]
print("HEAVY", heavy)
"""


@pytest.mark.parametrize("args", [["--help"], ["env=cartpol"], ["agent.lr=-1"]])
def test_help_and_rejections_do_not_import_heavy_modules(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_help_lists_groups_and_keys() -> None:
    proc = cli(["--help"], timeout=60)
    assert proc.returncode == 0
    assert "agent:" in proc.stdout and "cartpole" in proc.stdout and "total_steps" in proc.stdout
    # only the groups a user chooses: not the schemas, nor other tools' configs (issue 14)
    groups = proc.stdout.split("Config groups (choose with group=option):")[1].split("Config (override")[0]
    names = [line.split(":")[0] for line in groups.strip().splitlines()]
    assert names == ["agent", "env", "data", "agent_env", "agent_data", "trainer", "logger", "hydra/launcher"]
    assert "_schema" not in groups and "schema/" not in groups
