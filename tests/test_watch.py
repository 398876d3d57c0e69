"""`python -m lab.watch`: replays the run's own evaluation (same returns), writes a video a
player can decode, finds `latest`, and turns each bad input into one line and exit status 2."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from conftest import ROOT, train

from lab.watch import main as watch_main

TINY = ["agent=ppo", "env=cartpole", "trainer.total_steps=2048", "trainer.eval_every=1024",
        "env.eval_episodes=3", "trainer.checkpoint_every=1024", "trainer.log_every=0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """runs/2026-01-01/old (an older copy) and runs/2026-01-02/run: a tiny PPO CartPole run."""
    root = tmp_path_factory.mktemp("watch") / "runs"
    run = root / "2026-01-02" / "run"
    train(TINY, run)
    old = root / "2026-01-01" / "old"
    shutil.copytree(run, old)
    os.utime(old / ".hydra" / "config.yaml", (1e9, 1e9))
    return root


def headless_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return {**env, "PYTHONPATH": str(ROOT), "WANDB_SILENT": "true"}


def watch_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab.watch", *args], cwd=cwd, env=headless_env(),
                          capture_output=True, text=True, timeout=300)


def eval_at(run: Path, step: int) -> dict:
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
    return [r for r in rows if r["step"] == step and "eval/return_mean" in r][-1]


def test_watch_prints_the_final_evaluation_returns(runs: Path) -> None:
    run = runs / "2026-01-02" / "run"
    proc = watch_cli([str(run), "--episodes", "3", "--checkpoint", "last"], cwd=runs.parent)
    assert proc.returncode == 0, proc.stderr
    rows = re.findall(r"│\s*(\d+)\s*│\s*(\d+)\s*│\s*([-\d.]+)\s*│\s*(\d+)\s*│", proc.stdout)
    assert len(rows) == 3, proc.stdout
    returns = [float(r[2]) for r in rows]
    lengths = [int(r[3]) for r in rows]
    final = json.loads((run / "result.json").read_text())["final"]
    assert final["episodes"] == 3
    assert np.mean(returns) == pytest.approx(final["return_mean"], abs=1e-9)
    assert np.std(returns) == pytest.approx(final["return_std"], abs=1e-6)  # table shows 2 decimals
    assert np.mean(lengths) == pytest.approx(final["length_mean"])
    assert "(the same episodes)" in proc.stdout
    video = run / "media" / "watch_last_step2048.mp4"
    assert f"video: {video}" in proc.stdout and video.is_file()
    assert "error" not in proc.stderr.lower()  # headless rendering is quiet (no SDL/ALSA noise)


def test_watch_with_other_env_settings_makes_no_claim_about_the_runs_evaluation(runs: Path) -> None:
    """Played with an env override (another level, a shorter time limit) the episodes are not the
    run's evaluation's, so no comparison with it is printed (it used to say "differs: a different
    device...")."""
    run = runs / "2026-01-02" / "run"
    proc = watch_cli([str(run), "env.max_episode_steps=7", "--episodes", "3", "--checkpoint", "last", "--no-video"],
                     cwd=runs.parent)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"return 7\.00 ± 0\.00 over 3 episodes", proc.stdout), proc.stdout
    assert "the run's evaluation" not in proc.stdout


def test_watch_latest_json_video_and_gif(runs: Path) -> None:
    run = runs / "2026-01-02" / "run"
    proc = watch_cli(["latest", "--runs-dir", str(runs), "--json", "--gif"], cwd=runs.parent)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert Path(out["checkpoint"]) == run / "checkpoints" / "best.pt"  # the newest run, best.pt by default
    assert out["seed"] == 10_000 and out["deterministic"] and out["complete"]
    # best.pt holds the learner of the best evaluation: the same episodes as that evaluation
    reference = eval_at(run, out["step"])
    assert out["return_mean"] == reference["eval/return_mean"]
    assert out["training_eval_return_mean"] == reference["eval/return_mean"]
    assert len(out["episodes"]) == 3

    frames = []
    with imageio.get_reader(out["video"]) as reader:
        assert reader.get_meta_data()["fps"] == 50  # CartPole's render_fps
        frames = [np.asarray(f) for f in reader]
    # 3 eval envs tiled side by side; each env shows the first frame and one per step of its
    # episodes, so the video is as long as the env that plays longest: max_env sum(length + 1)
    per_env: dict[int, int] = {}
    for ep in out["episodes"]:
        per_env[ep["env"]] = per_env.get(ep["env"], 0) + ep["length"] + 1
    assert len(frames) == out["frames"] == max(per_env.values())
    assert frames[0].shape == (400, 608, 3)  # 2 x 2 tiles of 300 x 200, padded to 16 (608 x 400)
    first_tile = frames[len(frames) // 2][:200, :300]
    dark = (first_tile.max(axis=-1) < 60).mean()
    assert 0.001 < dark < 0.2  # the black cart (and track) on a light background
    assert len(np.unique(first_tile.reshape(-1, 3), axis=0)) > 10
    assert Path(out["gif"]).read_bytes()[:6] == b"GIF89a"


def test_live_without_display_says_so_and_writes_the_video(runs: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    run = runs / "2026-01-02" / "run"
    assert watch_main([str(run), "--live", "--episodes", "1", "--checkpoint", "last"]) == 0
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == ["lab.watch: --live: no display (DISPLAY and WAYLAND_DISPLAY are unset); "
                                        "writing the video instead"]
    assert (run / "media" / "watch_last_step2048_1ep.mp4").is_file()
    assert len(re.findall(r"│\s*1\s*│\s*0\s*│", out)) == 1


def _no_checkpoint(runs: Path, tmp: Path) -> list[str]:
    run = tmp / "fresh"
    shutil.copytree(runs / "2026-01-02" / "run" / ".hydra", run / ".hydra")
    return [str(run)]


def _mismatched(runs: Path, tmp: Path) -> list[str]:
    run = tmp / "edited"
    shutil.copytree(runs / "2026-01-02" / "run", run, ignore=shutil.ignore_patterns("media"))
    cfg = run / ".hydra" / "config.yaml"
    cfg.write_text(re.sub(r"hidden_sizes:\n  - 64\n  - 64", "hidden_sizes:\n  - 32", cfg.read_text()))
    return [str(run)]


def _truncated(runs: Path, tmp: Path) -> list[str]:
    bad = tmp / "cut.pt"
    bad.write_bytes((runs / "2026-01-02" / "run" / "checkpoints" / "last.pt").read_bytes()[:200])
    return [str(bad)]


@pytest.mark.parametrize("make_args,expected", [
    (lambda runs, tmp: [str(tmp / "nowhere")], r"no run at .*nowhere: it does not exist"),
    (_no_checkpoint, r"fresh has no checkpoint: .* holds no \.pt file"),
    (lambda runs, tmp: [str(runs / "2026-01-02" / "run"), "--checkpoint", str(tmp / "x.pt")],
     r"--checkpoint .*x\.pt: no such checkpoint file"),
    (lambda runs, tmp: ["latest", "--runs-dir", str(tmp / "empty")], r"latest: no run with a checkpoint under"),
    (_mismatched, r"does not match its config \(agent=ppo\): actor\.0\.weight is \[64,4\] in the checkpoint "
                  r"but \[32,4\] in the config"),
    (_truncated, r"cut\.pt is unreadable"),
], ids=["missing", "no-checkpoint", "missing-checkpoint-file", "latest-empty", "config-mismatch", "truncated"])
def test_bad_input_is_one_line_and_exit_2(make_args, expected: str, runs: Path, tmp_path: Path, capsys) -> None:
    args = make_args(runs, tmp_path)
    assert watch_main(args + ["--no-video"]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lab.watch: error: "), err
    assert re.search(expected, lines[0]), lines[0]
    assert "Traceback" not in err and out == ""


def test_bad_input_from_the_command_line_has_no_traceback(tmp_path: Path) -> None:
    proc = watch_cli([str(tmp_path / "nowhere")], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"lab.watch: error: no run at {tmp_path / 'nowhere'}: it does not exist "
        "(give a run directory, a checkpoint .pt file or latest)"]


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory) -> Path:
    """A tiny DCGAN on the bundled digits (a few G steps: watching needs a checkpoint, not quality)."""
    run = tmp_path_factory.mktemp("watch_gan") / "run"
    train(["agent=dcgan", "data=digits", "trainer.total_steps=4", "trainer.eval_every=0", "agent.eval_samples=64",
           "trainer.video_every=0"], run)
    return run


def test_watch_a_gan_writes_fresh_samples_and_a_latent_walk(gan_run: Path, capsys) -> None:
    """Watching a GAN (issue 14): fresh samples and a latent-walk video from its checkpoint, drawn
    with the seed asked for: the same seed draws the same images, another seed others."""
    assert watch_main([str(gan_run), "--seed", "7", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["agent"] == "dcgan" and first["seed"] == 7
    grid, walk = map(Path, first["files"])
    assert grid.name == "samples.png" and walk.name == "latent_walk.mp4"
    assert grid.parent == gan_run / "media" / f"watch_best_step{first['step']}_seed7"
    image = imageio.imread(grid)
    assert image.ndim == 3 and image.shape[0] > 16 and image.std() > 0
    reader = imageio.get_reader(walk)
    frames = [f for f in reader]
    reader.close()
    assert len(frames) > 10 and not np.array_equal(frames[0], frames[len(frames) // 2])  # it walks
    assert watch_main([str(gan_run), "--seed", "7", "--out", str(gan_run / "again"), "--json"]) == 0
    capsys.readouterr()
    assert np.array_equal(imageio.imread(gan_run / "again" / "samples.png"), image)
    assert watch_main([str(gan_run), "--seed", "8", "--out", str(gan_run / "other"), "--json"]) == 0
    capsys.readouterr()
    assert not np.array_equal(imageio.imread(gan_run / "other" / "samples.png"), image)


def test_a_learner_with_nothing_to_show_says_so(gan_run: Path, monkeypatch, capsys) -> None:
    """A learner kind that does not act in an env and keeps the contract's default show()."""
    import lab.watch as lw
    from lab.core.learner import Learner

    real = lw.rebuild

    def plain(run, device=None):
        source, learner, dev = real(run, device)

        class Quiet(Learner):
            pass
        return source, Quiet(), dev

    monkeypatch.setattr(lw, "rebuild", plain)
    assert watch_main([str(gan_run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "lab.watch: error: agent=dcgan shows nothing when watched: its learner (agents.gan) has no show()"
