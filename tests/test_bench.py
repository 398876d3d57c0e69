"""lab.bench: the benchmark table (matrix, runs, resume, bars, rliable aggregates) and the IQM/CI code."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT

from lab.bench import check_bar, load_matrix, main, parse_condition
from lab.core.errors import LabError
from lab.report import aggregate_intervals, iqm_intervals

TINY = ["trainer.total_steps=2048", "trainer.eval_every=1024", "env.eval_episodes=2", "trainer.threads=1",
        "trainer.video_every=0"]


def bench(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "lab.bench", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


# ---------------------------------------------------------------------- IQM and intervals (rliable)
def test_iqm_and_its_interval_match_hand_computed_values() -> None:
    # 3 runs: IQM trims int(0.25 * 3) = 0 runs from each end, so it is the mean. The percentile
    # bootstrap's 2.5% point is the minimum, because a resample of three copies of the minimum has
    # probability 1/27 = 3.7% > 2.5% (and likewise the maximum at 97.5%).
    iqm, low, high = iqm_intervals(np.array([[1.0], [2.0], [7.0]]))
    assert iqm[0] == pytest.approx(10 / 3) and (low[0], high[0]) == (1.0, 7.0)
    # 4 runs: one trimmed from each end, (2 + 3) / 2; the IQM of a resample is 1 when 3 or 4 of its
    # draws are the 1 (4 * (1/4)^3 * 3/4 + (1/4)^4 = 5.1% > 2.5%), so the interval's low end is 1
    # Columns are resampled on their own: a constant column keeps a zero-width interval beside it.
    iqm, low, high = iqm_intervals(np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [100.0, 5.0]]))
    assert list(iqm) == [2.5, 5.0] and list(low) == [1.0, 5.0] and list(high) == [100.0, 5.0]
    # 8 runs: two trimmed from each end: (2 + 3 + 4 + 5) / 4
    iqm, _, _ = iqm_intervals(np.array([[0.0], [1], [2], [3], [4], [5], [6], [100]]))
    assert iqm[0] == 3.5
    # one run: its value, no interval; the same seed gives the same interval
    iqm, low, high = iqm_intervals(np.array([[3.0]]))
    assert iqm[0] == 3.0 and math.isnan(low[0]) and math.isnan(high[0])
    x = np.random.default_rng(1).normal(size=(5, 3))
    assert np.array_equal(np.stack(iqm_intervals(x)), np.stack(iqm_intervals(x)))


def test_aggregates_are_stratified_by_pair_and_match_hand_computed_values() -> None:
    # The same four scores, 0, 0, 1, 1: stratified by pair, a resample of pair 1 is always (0, 0)
    # and of pair 2 always (1, 1), so the IQM is 0.5 in every resample; mixed within each pair it
    # ranges from 0 to 1.
    same = aggregate_intervals(np.array([[0.0, 1.0], [0.0, 1.0]]))
    assert same["iqm"] == 0.5 and same["iqm_ci95"] == [0.5, 0.5]
    mixed = aggregate_intervals(np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert mixed["iqm"] == 0.5 and mixed["iqm_ci95"] == [0.0, 1.0]
    # optimality gap: 1 - mean(min(x, 1)) = 1 - (0.5 + 1 + 1 + 0) / 4; IQM: mean of 0.5 and 1
    result = aggregate_intervals(np.array([[0.5, 1.5], [1.0, 0.0]]))
    assert result["optimality_gap"] == pytest.approx(0.375) and result["iqm"] == pytest.approx(0.75)


# ---------------------------------------------------------------------- the matrix and the bars
def test_the_shipped_matrix_holds_the_zoo_rows_and_every_pair_is_a_valid_lab_command() -> None:
    from lab.__main__ import CONF_DIR
    from lab.config import register_configs
    from lab.preflight import preflight

    matrix = load_matrix()
    assert {"ppo_cartpole", "dqn_cartpole", "dqn_mountaincar", "gan_ring8", "sngan_ring8", "gan_grid25",
            "cgan_digits"} <= set(matrix)
    # RL bars: the zoo's mean - std on every seed, within the zoo's budget: the run stops once an
    # evaluation reaches the bar (--no-early-stop: the whole budget)
    acrobot = matrix["dqn_acrobot"]
    assert acrobot.over == "every_seed" and [c.text for c in acrobot.conditions] == ["return_mean >= -88.391"]
    assert "trainer.total_steps=100000" in acrobot.command(0, [])
    assert "trainer.stop_at=-88.391" in acrobot.command(0, [])
    acrobot.early_stop = False
    assert "trainer.stop_at=null" in acrobot.command(0, [])
    # GAN bars hold on every seed too (the 3 of 3)
    assert all(p.over == "every_seed" for p in matrix.values())
    # every GAN agent x every shipped dataset it can train on
    assert {f"{a}_{d}" for a in ("gan", "dcgan", "wgan_gp", "sngan", "cgan")
            for d in ("ring8", "grid25", "digits")} <= set(matrix)
    assert [c.text for c in matrix["ppo_cartpole"].conditions] == ["return_mean >= 500"]
    assert "LunarLander-v3" in matrix["ppo_lunarlander"].note and matrix["ppo_lunarlander"].zoo["env"] == "LunarLander-v2"
    zoo = {(p.zoo["algo"], p.zoo["env"]): (p.zoo["mean"], p.zoo["std"], p.zoo["steps"]) for p in matrix.values() if p.zoo}
    assert len(zoo) == 11 and zoo[("ppo", "Pendulum-v1")] == (-172.225, 104.159, 100000)
    # the recurrent row keeps issue 16's bar (CartPole's threshold), not the zoo's 500 - 0
    assert [c.text for c in matrix["ppo_cartpole_novel"].conditions] == ["return_mean >= 475"]
    assert "trainer.stop_at=475" in matrix["ppo_cartpole_novel"].command(0, [])
    assert [c.text for c in matrix["gan_grid25"].conditions] == ["modes >= 24", "hq_fraction >= 0.85"]
    assert "class_diversity >= 0.5 * real_class_diversity" in [c.text for c in matrix["cgan_digits"].conditions]
    assert matrix["cgan_digits"].needs_init() and not matrix["gan_ring8"].needs_init()
    # --extra comes last and wins over the pair's own values
    assert matrix["ppo_cartpole"].command(1, ["trainer.total_steps=64"])[-1] == "trainer.total_steps=64"
    assert "trainer.total_steps=100000" not in matrix["ppo_cartpole"].command(1, ["trainer.total_steps=64"])
    register_configs()
    for name, pair in matrix.items():
        assert preflight(CONF_DIR, pair.command(0, [])) is None, name


def _run(seed: int, completed: bool = True, init: dict | None = None, **final: float) -> dict:
    run = {"seed": seed, "completed": completed, "final": final}
    if init is not None:
        run["init"] = init
    return run


def test_bars_pass_and_fail_per_seed_or_on_the_mean() -> None:
    matrix = load_matrix()
    cartpole = matrix["ppo_cartpole"]  # >= 500 on every seed
    assert check_bar(cartpole, [_run(s, return_mean=500.0) for s in range(3)], [0, 1, 2])["verdict"] == "pass (3/3 seeds)"
    two = check_bar(cartpole, [_run(0, return_mean=500.0), _run(1, return_mean=499.0), _run(2, return_mean=500.0)],
                    [0, 1, 2])
    assert two["verdict"] == "FAIL (2/3 seeds)" and two["conditions"][0]["passed_seeds"] == 2
    crashed = check_bar(cartpole, [_run(0, return_mean=500.0), _run(1, completed=False), _run(2, return_mean=500.0)],
                        [0, 1, 2])
    assert crashed["verdict"] == "FAIL (1 of 3 runs did not complete)"
    ring = matrix["gan_ring8"]  # modes >= 7.5 and hq_fraction >= 0.90 on every seed
    runs = [_run(0, modes=8.0, hq_fraction=0.95), _run(1, modes=8.0, hq_fraction=0.9), _run(2, modes=7.0, hq_fraction=0.93)]
    assert check_bar(ring, runs, [0, 1, 2])["verdict"] == "FAIL (2/3 seeds)"  # seed 2: 7 modes
    ring.over = "mean"  # the same runs judged on the mean over seeds: 7.67 modes, 0.927
    assert check_bar(ring, runs, [0, 1, 2])["verdict"] == "pass"
    runs[2]["final"]["hq_fraction"] = 0.80
    assert check_bar(ring, runs, [0, 1, 2])["verdict"] == "FAIL (hq_fraction 0.883)"
    digits = matrix["cgan_digits"]  # relative to FID at init and to held-out real images
    good = dict(recall=0.5, real_recall=0.9, coverage=0.5, real_coverage=0.9, class_diversity=5.0,
                real_class_diversity=9.0)
    runs = [_run(s, init={"fid": 300.0}, fid=fid, **good) for s, fid in enumerate((10.0, 12.0, 14.0))]
    result = check_bar(digits, runs, [0, 1, 2])
    assert result["verdict"] == "pass (3/3 seeds)" and result["conditions"][0]["thresholds"] == [pytest.approx(15.0)] * 3
    runs[0]["final"]["fid"] = 30.0  # 30 > 300 / 20 on seed 0
    assert check_bar(digits, runs, [0, 1, 2])["verdict"] == "FAIL (2/3 seeds)"
    runs[0]["final"]["fid"] = 10.0
    del runs[1]["final"]["real_recall"]
    assert check_bar(digits, runs, [0, 1, 2])["verdict"] == "incomplete: no real_recall in the runs' results"


def test_a_bad_matrix_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"bad condition 'modes > 7' \(expected METRIC >= NUMBER"):
        parse_condition("modes > 7", "m.yaml: pairs.x.bar")
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"pairs": {"x": {"agent": "ppo", "env": "cartpole", "data": "ring8", "score": "r"}}}))
    with pytest.raises(LabError, match="pairs.x: needs agent, score and exactly one of env or data"):
        load_matrix(path)
    path.write_text(yaml.safe_dump({"pairs": {"x": {"agent": "ppo", "env": "cartpole", "score": "r", "bars": {}}}}))
    with pytest.raises(LabError, match="pairs.x: unknown key 'bars'"):
        load_matrix(path)


def test_a_bad_pair_name_or_override_is_one_line_and_exit_2() -> None:
    names = list(load_matrix())
    for args, expected in ((["nope"], "unknown pair 'nope'; valid pairs: " + ", ".join(names)),
                           (["zzz_*"], "unknown pair 'zzz_*'; valid pairs: "),
                           (["ppo_cartpole", "--extra", "trainer.totl_steps=5"],
                            "ppo_cartpole: unknown key 'trainer.totl_steps'")):
        proc = bench(args, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("lab.bench: error: " + expected)


# ---------------------------------------------------------------------- runs, resume and the table
def _fake_run(run_dir: Path, overrides: list[str], final: dict, steps: int, step0: dict | None = None) -> None:
    """What a finished lab run leaves behind, as far as lab.bench reads it."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"env": {"id": "CartPole-v1"}}))
    (run_dir / "result.json").write_text(json.dumps({"status": "completed", "completed": True, "steps": steps,
                                                     "wall_time_s": 2.0, "final": {"step": steps, **final}}))
    if step0 is not None:
        (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 0, **{f"eval/{k}": v for k, v in step0.items()}})
                                               + "\n")


def test_completed_runs_are_skipped_and_tabulated_with_bars_and_aggregates(tmp_path: Path, monkeypatch, capsys) -> None:
    """A fake bench directory: every run (and init reference) already completed, so the bench
    launches nothing (resume) and goes straight to the table."""
    matrix = load_matrix()
    out = tmp_path / "bench"
    extra = ["trainer.threads=1"]
    for seed, ret in enumerate((500.0, 480.0, 500.0)):
        _fake_run(out / "ppo_cartpole" / f"seed_{seed}", matrix["ppo_cartpole"].command(seed, extra),
                  {"return_mean": ret, "return_std": 0.0}, 100_352)
    real = dict(real_recall=0.9, real_coverage=0.9, real_class_diversity=9.0)
    from lab.bench import INIT_OVERRIDES, _dedupe

    for seed, fid in enumerate((10.0, 12.0, 14.0)):
        cgan = matrix["cgan_digits"].command(seed, extra)
        final = dict(fid=fid, recall=0.6, coverage=0.5, class_diversity=5.0, **real)
        # seed 2's run logged an eval at step 0 (no one-step run needed); 0 and 1 have one-step runs
        _fake_run(out / "cgan_digits" / f"seed_{seed}", cgan, final, 1500, step0={"fid": 300.0} if seed == 2 else None)
        if seed < 2:
            _fake_run(out / "cgan_digits" / f"init_seed_{seed}", _dedupe(cgan + INIT_OVERRIDES),
                      dict(fid=300.0, recall=0.0, coverage=0.0, class_diversity=0.1, **real), 1)

    def no_runs(*args, **kwargs):
        raise AssertionError(f"lab.bench launched a run although every run had completed: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_runs)
    assert main(["ppo_cartpole", "cgan_digits", "--seeds", "3", "--out", str(out), "--extra", *extra]) == 0
    stderr = capsys.readouterr().err
    assert stderr.count("completed before, skipped") == 8 and "cgan_digits seed 2 init: the run's step-0 eval" in stderr

    table = (out / "bench.md").read_text()
    header = ("| pair | learns from | steps | score | IQM [95% CI] | per seed | rl-zoo mean ± std (steps) | bar | result "
              "| normalised IQM | train s/run |")
    assert header in table
    assert ("| ppo_cartpole | CartPole-v1 | 100,352 | return_mean | 493.3 [480.0, 500.0] | 500.0, 480.0, 500.0 | "
            "500 ± 0 (100,000) | return_mean >= 500 (every seed) | FAIL (2/3 seeds) |") in table
    assert "| cgan_digits |" in table and "| pass (3/3 seeds) |" in table and "fid <= 0.05 * init" in table
    assert "| cgan_digits | reference: fid at init | per seed | 300.0, 300.0, 300.0 |" in table
    summary = json.loads((out / "bench.json").read_text())
    ppo, cgan = summary["pairs"]["ppo_cartpole"], summary["pairs"]["cgan_digits"]
    assert ppo["metrics"]["return_mean"]["values"] == [500.0, 480.0, 500.0]
    assert ppo["metrics"]["return_mean"]["iqm"] == pytest.approx(1480 / 3)
    assert ppo["normalised"]["values"] == pytest.approx([1.0, (480 - 23.7) / (500 - 23.7), 1.0])
    assert cgan["normalised"]["values"] == pytest.approx([1 - 10 / 300, 1 - 12 / 300, 1 - 14 / 300])
    assert [r["init_from"].split(" (")[0] for r in cgan["runs"]] == ["a one-step run"] * 2 + ["the run's eval at step 0"]
    assert cgan["bar"]["verdict"] == "pass (3/3 seeds)" and ppo["bar"]["verdict"] == "FAIL (2/3 seeds)"
    # every metric the runs' final eval holds comes through, new ones included
    assert {"fid", "recall", "coverage", "class_diversity", "real_recall"} <= set(cgan["metrics"])
    aggregates = summary["aggregates"]
    assert set(aggregates) == {"all pairs", "RL", "GAN"} and aggregates["all pairs"]["seeds"] == [0, 1, 2]
    scores = np.array([ppo["normalised"]["values"], cgan["normalised"]["values"]]).T
    assert aggregates["all pairs"]["iqm"] == pytest.approx(aggregate_intervals(scores)["iqm"])
    assert (out / "bench.png").stat().st_size > 10_000

    # a bench directory holding runs of other overrides is refused before anything runs
    assert main(["ppo_cartpole", "--seeds", "1", "--out", str(out)]) == 2
    assert "holds a run of other overrides (differing: trainer.threads=1)" in capsys.readouterr().err


def test_a_tiny_real_bench_runs_lab_subprocesses_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["ppo_cartpole", "--seeds", "2", "--out", str(out), "--extra", *TINY]
    first = bench(args)
    assert first.returncode == 0, first.stderr[-3000:]
    results = {s: out / "ppo_cartpole" / f"seed_{s}" / "result.json" for s in (0, 1)}
    finals = {s: json.loads(p.read_text()) for s, p in results.items()}
    assert all(r["completed"] and r["steps"] == 2048 for r in finals.values())
    assert all((out / "ppo_cartpole" / f"seed_{s}" / ".hydra" / "config.yaml").exists() for s in (0, 1))
    summary = json.loads((out / "bench.json").read_text())
    pair = summary["pairs"]["ppo_cartpole"]
    values = [finals[s]["final"]["return_mean"] for s in (0, 1)]
    assert pair["metrics"]["return_mean"]["values"] == values
    solved = sum(v >= 500 for v in values)
    assert pair["bar"]["verdict"] == ("pass (2/2 seeds)" if solved == 2 else f"FAIL ({solved}/2 seeds)")
    assert "| ppo_cartpole | CartPole-v1 | 2,048 | return_mean |" in first.stdout
    mtimes = {s: p.stat().st_mtime_ns for s, p in results.items()}

    second = bench(args)  # the same bench again: nothing runs
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr.count("completed before, skipped") == 2
    assert {s: p.stat().st_mtime_ns for s, p in results.items()} == mtimes
