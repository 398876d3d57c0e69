"""lab.tune never writes into the lab's conf/: a study's preset lands next to the study, loads through
hydra.searchpath, and replaces an existing one only with --force. (The pruning/kill/workers test is in
test_sweep.py.)"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CONF, ROOT, cli

# a study small enough to finish in seconds: 3 trials of 1024 env steps, nothing pruned
TINY_SPACE = {
    "overrides": ["agent=ppo", "env=cartpole", "trainer.total_steps=1024", "trainer.eval_every=512",
                  "env.eval_episodes=2", "trainer.checkpoint_every=0", "trainer.threads=1", "agent.n_steps=32",
                  "wandb.mode=disabled"],
    "metric": "eval/return_mean", "direction": "maximize",
    "pruner": {"type": "none"},
    "sampler": {"seed": 0, "n_startup_trials": 3},
    "space": {"agent.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
              "agent.n_epochs": {"type": "int", "low": 1, "high": 4}},
}


def conf_files() -> dict[str, str]:
    """Every file under the lab's shipped conf/, by path, with its sha256."""
    return {str(p.relative_to(CONF)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(CONF).rglob("*")) if p.is_file()}


def tune(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_SILENT": "true"}
    return subprocess.run([sys.executable, "-m", "lab.tune", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def best_trial(study_dir: Path, name: str):
    import optuna

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{study_dir / 'study.db'}")
    return study.best_trial, len(study.trials)


def test_study_from_another_directory_writes_its_preset_beside_it_and_never_touches_conf(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY_SPACE))
    shipped = conf_files()
    args = ["tiny.yaml", "--trials", "3"]
    first = tune(args, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert conf_files() == shipped  # not one byte of the lab's presets changed, no file added

    study = (tmp_path / "runs" / "tune" / "tiny").resolve()  # the default study directory, under the cwd
    preset = study / "agent_env" / "tiny_best.yaml"
    assert len(list(study.glob("trial_*"))) == 3 and preset.is_file()
    best, n_trials = best_trial(study, "tiny")
    usage = f"python -m lab agent=ppo env=cartpole 'hydra.searchpath=[file://{study}]' agent_env=tiny_best"
    assert f"wrote {preset}\nuse it: {usage}\n" in first.stdout
    written = yaml.safe_load(preset.read_text())
    assert written["agent"]["lr"] == pytest.approx(best.params["agent.lr"])
    assert written["agent"]["n_epochs"] == best.params["agent.n_epochs"]

    # the README's form: a search path relative to where the study ran; its values are what --cfg job shows
    shown = cli(["agent=ppo", "env=cartpole", "hydra.searchpath=[file://runs/tune/tiny]", "agent_env=tiny_best",
                 "--cfg", "job"], cwd=tmp_path, timeout=120)
    assert shown.returncode == 0, shown.stderr
    cfg = yaml.safe_load(shown.stdout)
    assert cfg["agent"]["lr"] == pytest.approx(best.params["agent.lr"])
    assert cfg["agent"]["n_epochs"] == best.params["agent.n_epochs"]
    assert cfg["trainer"]["stop_at"] == 475  # the shipped ppo_cartpole preset it refines
    assert cfg["agent"]["lr"] != pytest.approx(compose_default_lr())  # really loaded, not the default

    # run again: refused before any trial, one line naming the file and the flag; a hand edit survives
    preset.write_text(preset.read_text() + "# my notes\n")
    edited = preset.read_bytes()
    again = tune(args, tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"lab.tune: error: {preset} already exists (the preset of an earlier run of this study); pass --force to "
        f"replace it, or --no-preset"]
    assert preset.read_bytes() == edited
    assert best_trial(study, "tiny")[1] == n_trials

    forced = tune([*args, "--force"], tmp_path)
    assert forced.returncode == 0, forced.stderr[-3000:]
    replaced = preset.read_text()
    assert "# my notes" not in replaced and replaced.startswith("# @package _global_\n")
    assert yaml.safe_load(replaced) == written
    assert best_trial(study, "tiny")[1] == n_trials  # a finished study runs no extra trial
    assert not [p.name for p in preset.parent.iterdir() if p.name != preset.name]  # no temporary file left
    assert conf_files() == shipped


def compose_default_lr() -> float:
    from conftest import compose

    return float(compose(["agent=ppo", "env=cartpole"]).agent.lr)


@pytest.mark.parametrize("where", ["out", "storage", "cwd"])
def test_a_study_inside_the_labs_conf_is_refused_in_one_line(where: str, tmp_path: Path) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump(TINY_SPACE))
    conf = Path(CONF).resolve()
    shipped = conf_files()
    if where == "out":
        proc, what, place, option = (tune([str(space), "--out", str(conf / "agent_env")], tmp_path),
                                     "the study directory", conf / "agent_env",
                                     "--out DIR (default runs/tune/<space> in the current directory)")
    elif where == "storage":
        proc, what, place, option = (tune([str(space), "--storage", f"sqlite:///{conf}/study.db"], tmp_path),
                                     "the study database", conf / "study.db", "--storage URL")
    else:  # run from inside conf/: the default study directory would be conf/runs/tune/tiny
        proc, what, place, option = (tune([str(space)], conf), "the study directory", conf / "runs/tune/tiny",
                                     "--out DIR (default runs/tune/<space> in the current directory)")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"lab.tune: error: {what} {place} is inside the lab's own config directory {ROOT / 'conf'}: lab.tune never "
        f"writes there; give {option} elsewhere"]
    assert conf_files() == shipped
    assert not (tmp_path / "runs").exists() and not (conf / "runs").exists()


def test_a_preset_the_search_path_does_not_find_is_one_line_not_silently_skipped(tmp_path: Path) -> None:
    # agent_env is an `optional` default: Hydra alone would skip a missing option and train without it
    missing = cli(["agent_env=tiny_best", "--cfg", "job"], cwd=tmp_path, timeout=120)
    assert missing.returncode == 2
    [line] = missing.stderr.strip().splitlines()
    assert line.startswith("lab: error: unknown agent_env 'tiny_best'; choose one of: ")
    assert ", ppo_cartpole, ppo_cartpole_novel, ppo_cartpole_tuned, " in line
    assert line.endswith("; a tuning study's preset also needs 'hydra.searchpath=[file://STUDY_DIR]'")
    no_dir = cli(["hydra.searchpath=[file://runs/tune/nope]", "agent_env=nope_best", "--cfg", "job"],
                 cwd=tmp_path, timeout=120)
    assert no_dir.returncode == 2
    assert no_dir.stderr.strip().splitlines() == [
        "lab: error: hydra.searchpath: no directory runs/tune/nope (give file://DIR, e.g. a tuning study's directory)"]


def test_a_preset_a_shipped_one_would_hide_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Hydra searches the lab's conf/ first: a shipped agent_env/tiny_best.yaml would win over the study's
    import lab.tune as tune_module
    from lab.core.errors import LabError

    conf = tmp_path / "conf"
    (conf / "agent_env").mkdir(parents=True)
    (conf / "agent_env" / "tiny_best.yaml").write_text("# shipped\n")
    monkeypatch.setattr(tune_module, "CONF", conf)
    monkeypatch.setattr(tune_module, "ROOT", tmp_path)
    study = tmp_path / "runs" / "tune" / "tiny"
    group, preset = tune_module.preset_path(TINY_SPACE, "tiny", study)
    assert (group, preset) == ("agent_env", study / "agent_env" / "tiny_best.yaml")
    with pytest.raises(LabError, match=r"^the study's preset agent_env=tiny_best would be hidden by the shipped "
                                       r"conf/agent_env/tiny_best.yaml; rename the search space or pass --no-preset$"):
        tune_module.check_writable(study, f"sqlite:///{study / 'study.db'}", preset, force=True)
    tune_module.check_writable(study, f"sqlite:///{study / 'study.db'}", None, force=False)  # --no-preset: fine


def test_a_bad_option_is_one_line(tmp_path: Path) -> None:
    proc = tune(["ppo_cartpole", "--trials", "many"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "lab.tune: error: argument --trials: invalid int value: 'many' (see python -m lab.tune --help)"]
