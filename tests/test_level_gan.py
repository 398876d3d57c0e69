"""GAN-made Mario levels (issue 17): level windows as code maps, their metrics, data=mario_levels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli, train

from envs.mario.level import ENEMY_CHARS, TILE_CHARS, parse_level
from envs.mario.level_metrics import broken, diversity, nearest_distance, novelty, playable, tile_js
from envs.mario.windows import CODE_CHARS, NUM_CODES, decode, encode, start_cell, stitch, windows

W = 32


def _map(rows: dict[int, str] | None = None, ground: str | None = None) -> np.ndarray:
    """A 16 x 32 code map: sky, ground on rows 14-15 (or `ground`'s pattern), and `rows` drawn in."""
    text = ["-" * W for _ in range(16)]
    text[14] = text[15] = ground or "X" * W
    for r, line in (rows or {}).items():
        text[r] = line.ljust(W, "-")
    return np.array([[CODE_CHARS.index(ch) for ch in line] for line in text], dtype=np.int64)


# ------------------------------------------------------------------------ encode / decode
def test_every_level_character_survives_encode_and_decode() -> None:
    chars = "".join(TILE_CHARS) + "".join(ENEMY_CHARS)  # every tile and enemy character the parser knows
    rows = ["-" * 60 for _ in range(16)]
    rows[14] = rows[15] = "X" * 60
    rows[13] = "--M" + "-" * 56 + "F"
    rows[6] = "-" + "".join(ch for ch in chars if ch not in ENEMY_CHARS) + "-" * (59 - len(TILE_CHARS))
    rows[12] = "-" * 4 + "".join(ENEMY_CHARS) + "-" * (56 - len(ENEMY_CHARS))
    level = parse_level("\n".join(rows) + "\n")
    codes = encode(level)
    assert codes.shape == (16, 60) and codes.max() < NUM_CODES
    again = parse_level(decode(codes, level.start, level.flag))
    assert np.array_equal(again.tiles, level.tiles)
    assert np.array_equal(again.enemies, level.enemies)  # enemies, and the mushrooms inside @ and U
    assert (again.start, again.flag, again.has_flag) == (level.start, level.flag, level.has_flag)
    assert np.array_equal(encode(again), codes)
    # one code per character class: the canonical character decodes to the same tile or enemy
    for ch in chars:
        one = parse_level("\n".join([*rows[:6], ("-" + ch).ljust(60, "-"), *rows[7:]]) + "\n")
        assert np.array_equal(encode(parse_level(decode(encode(one), one.start, one.flag))), encode(one)), ch


def test_decode_places_the_start_on_the_first_floor_and_the_exit_at_the_right_edge() -> None:
    codes = _map(ground="---" + "X" * (W - 3))  # a pit of 3 columns at the left
    assert start_cell(codes) == (3, 13)
    level = parse_level(decode(codes))
    assert level.start == (3, 13) and not level.has_flag and level.flag[0] == W - 1
    with pytest.raises(ValueError, match="no column has a floor"):
        decode(_map(ground="-" * W))


def test_windows_cut_with_a_stride_and_stitch_back() -> None:
    codes = np.arange(16 * 40).reshape(16, 40) % NUM_CODES
    wins = windows(codes, width=W, stride=4)
    assert wins.shape == (3, 16, W) and np.array_equal(wins[2], codes[:, 8:40])
    assert windows(codes, width=41).shape == (0, 16, 41)
    assert np.array_equal(stitch(windows(codes, width=20, stride=20)), codes)


# ------------------------------------------------------------------------ metrics on hand-made maps
def test_tile_distribution_distance() -> None:
    flat = np.stack([_map()] * 3)
    assert tile_js(flat, flat) == 0.0
    bricks = np.full((1, 16, W), CODE_CHARS.index("B"))
    assert tile_js(flat, bricks) == pytest.approx(1.0)  # no code in common: the maximum, 1 bit
    some = _map({10: "BBBB"})[None]
    assert 0 < tile_js(flat, some) < tile_js(flat, bricks)


def test_novelty_and_diversity_count_differing_cells() -> None:
    base = _map()
    near = _map({10: "B" * 20})  # 20 of 512 cells differ: 3.9% < 5%
    far = _map({10: "B" * 26})  # 26 cells: 5.1%
    corpus = base[None]
    assert nearest_distance(np.stack([base, near, far]), corpus) == pytest.approx([0, 20 / 512, 26 / 512])
    assert novelty(np.stack([base, near, far]), corpus) == pytest.approx(1 / 3)
    assert diversity(np.stack([base, base])) == 0.0
    assert diversity(np.stack([base, far])) == pytest.approx(26 / 512)
    assert diversity(np.stack([base, near, far])) == pytest.approx((20 + 26 + 6) / 512 / 3)


def test_broken_structures() -> None:
    whole = _map({12: "-" * 10 + "tt", 13: "-" * 10 + "tt"})
    assert not broken([_map(), whole]).any()
    half_pipe = _map({12: "-" * 10 + "t", 13: "-" * 10 + "t"})
    floating = _map({8: "-" * 10 + "tt", 9: "-" * 10 + "tt"})
    holey = _map({11: "-" * 10 + "tt", 12: "-" * 10 + "-t", 13: "-" * 10 + "tt"})
    walled = _map({13: "-" * 10 + "#g#"})
    no_start = _map(ground="-" * W)
    edge_cut = _map({12: "t", 13: "t"})  # a pipe the window's left edge cuts in half: whole
    assert broken([half_pipe, floating, holey, walled, no_start]).all()
    assert not broken([edge_cut]).any()


def test_playable_is_the_solver_clearing_the_map() -> None:
    flat = _map()
    small_pit = _map(ground="X" * 12 + "--" + "X" * (W - 14))
    wide_pit = _map(ground="X" * 8 + "-" * 14 + "X" * (W - 22))
    wall = _map({r: "-" * 16 + "X" for r in range(0, 14)})  # ground to the sky: nobody passes
    assert list(playable([flat, small_pit, wide_pit, wall])) == [True, True, False, False]


# ------------------------------------------------------------------------ data=mario_levels
def test_the_dataset_cuts_one_hot_windows_from_its_corpus(tmp_path: Path) -> None:
    from envs.data import make_dataset

    source = make_dataset("mario_levels", levels=["intro", "pits"], procedural_levels=0, window=W, stride=8)
    from envs.mario.catalog import load_level

    expected = sum(len(windows(encode(load_level(n)), W, 8)) for n in ("intro", "pits"))
    assert len(source) == expected and source.shape == (NUM_CODES, 16, W)
    x, y = source.sample(5, torch.Generator().manual_seed(0))
    assert y is None and x.shape == (5, NUM_CODES, 16, W) and torch.equal(x.sum(1), torch.ones(5, 16, W))
    x2, _ = source.sample(5, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    assert all(parse_level(t) for t in source.texts(x))  # every real window decodes into a level
    pics = source.render(x)
    assert pics.shape == (5, 3, 128, 256) and pics.min() >= -1 and pics.max() <= 1


def test_bad_corpus_and_window_are_one_line_and_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "one.txt").write_text("-----\n--Z--\n")
    cases = [([f"data.root={empty}"], "no level files"),
             ([f"data.root={bad}"], "one.txt, line 2, column 3"),
             (["data.window=400"], "wider than every level"),
             (["data.window=30"], "multiple of 4")]
    for extra, message in cases:
        proc = cli(["agent=dcgan", "data=mario_levels", "data.procedural_levels=0", "wandb.mode=disabled",
                    f"hydra.run.dir={tmp_path / 'run'}", *extra])
        assert proc.returncode == 2, (extra, proc.stderr[-2000:])
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and message in lines[0], (extra, proc.stderr[-2000:])


SMALL = ["data=mario_levels", "data.procedural_levels=0", "data.eval_windows=16", "data.eval_levels=2",
         "agent.g_channels=8", "agent.d_channels=8", "agent.z_dim=16", "agent.batch_size=16"]


def test_a_level_gan_trains_draws_and_writes_level_text(tmp_path: Path) -> None:
    result = train(["agent=dcgan", *SMALL, "trainer.total_steps=4", "trainer.eval_every=2",
                    "trainer.log_every=0", "trainer.checkpoint_every=0"], tmp_path / "run")
    assert result["completed"]
    final = result["final"]
    for key in ("playable", "playable_levels", "tile_js", "novelty", "diversity", "broken",
                "corpus_playable", "corpus_tile_js", "procedural_novelty"):
        assert key in final and 0.0 <= final[key] <= 1.0, key
    media = tmp_path / "run" / "media"
    assert (media / "samples_000000004.png").exists()
    texts = (media / "samples_000000004.txt").read_text().split("# sample ")[1:]
    assert len(texts) == 16 and all(len(t.splitlines()) == 1 + 16 for t in texts)  # its header, 16 rows


# ------------------------------------------------------------------------ latent search (lab.levels)
def test_objectives_parse_and_score() -> None:
    from lab.core.errors import LabError
    from lab.levels import Objective, jumps

    assert Objective.parse("jumps>=8", 0.1).fitness(5) == 3 and Objective.parse("jumps>=8", 0.1).fitness(9) == 0
    assert Objective.parse("enemies=4", 0.1).fitness(6) == 2
    rate = Objective.parse("clear_rate=0.5", 0.1)
    assert rate.fitness(0.6) == 0 and rate.fitness(0.35) == pytest.approx(0.15)
    for bad in ("jumps>8", "speed>=3", "clear_rate>=0.5", "clear_rate=2"):
        with pytest.raises(LabError):
            Objective.parse(bad, 0.1)
    # simple movement: 2 = right+A, 1 = right; a jump is a press, holding A does not jump again
    assert jumps([1, 2, 2, 2, 1, 2, 1, 1, 2]) == 3 and jumps([]) == 0


def test_cma_search_finds_a_latent_that_meets_the_objective() -> None:
    from lab.levels import Objective, cma_search

    # a stand-in generator: latent dimension i > 1 puts a goomba in column 2 + 3 i of a flat map
    def level_of(x: np.ndarray) -> np.ndarray:
        codes = _map()
        for i, v in enumerate(x):
            if v > 1.0:
                codes[13, 2 + 3 * i] = CODE_CHARS.index("g")
        return codes

    def enemies(codes: np.ndarray) -> float | None:
        return float(np.sum(codes >= NUM_CODES - 4))

    fit, x, value, evals, history = cma_search(level_of, enemies, Objective.parse("enemies>=6", 0.1), dims=8,
                                               evals=500, sigma=0.5, seed=0)
    assert fit == 0 and value >= 6 and evals <= 500 and len(history) == evals
    assert sum(v > 1.0 for v in x) >= 6
    fit, _, value, evals, _ = cma_search(level_of, enemies, Objective.parse("enemies>=9", 0.1), dims=8, evals=40,
                                         sigma=0.5, seed=0)  # impossible: 8 dimensions, 8 goombas at most
    assert fit > 0 and evals == 40


def test_search_refuses_a_run_that_is_not_a_level_gan(tmp_path: Path) -> None:
    import subprocess
    import sys

    from conftest import ROOT

    run = tmp_path / "gan"
    train(["agent=gan", "data=ring8", "agent.g_hidden=[8]", "agent.d_hidden=[8]", "trainer.total_steps=2",
           "trainer.eval_every=0", "trainer.log_every=0", "trainer.checkpoint_every=0"], run)
    for args, message in ([[str(run), "--objective", "jumps>=8"], "not a level GAN's run"],
                          [[str(run), "--objective", "jumps>8"], "--objective"]):
        proc = subprocess.run([sys.executable, "-m", "lab.levels", "search", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr


def test_training_on_an_untrained_gans_levels_is_one_line(tmp_path: Path) -> None:
    run = tmp_path / "levelgan"
    train(["agent=dcgan", *SMALL, "trainer.total_steps=2", "trainer.eval_every=0", "trainer.log_every=0",
           "trainer.checkpoint_every=0"], run)
    proc = cli(["agent=ppo", "env=mario", f"env.level=gan:{run}@2", "trainer.total_steps=64", "wandb.mode=disabled",
                f"hydra.run.dir={tmp_path / 'ppo'}"])
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert f"env.level=gan:{run}@2" in lines[0] and "playable" in lines[0]
    proc = cli(["agent=ppo", "env=mario", f"env.level=gan:{tmp_path / 'nothing'}", "wandb.mode=disabled",
                f"hydra.run.dir={tmp_path / 'ppo2'}"])
    assert proc.returncode == 2 and "not a run directory" in proc.stderr, proc.stderr[-2000:]


# ------------------------------------------------------------------------ a stream of levels (env.level=gan:RUN env.train_levels=0)
STREAM_WRITER = r"""
import os, sys
from pathlib import Path
root, k = Path(sys.argv[1]), int(sys.argv[2])
root.mkdir(parents=True, exist_ok=True)
for line in sys.stdin:
    while k <= int(line):
        gap = "-" * (1 + k % 3)  # level k: a pit k % 3 + 1 tiles wide
        ground = "X" * 12 + gap + "X" * (28 - len(gap))
        rows = ["-" * 40] * 13 + ["--M" + "-" * 33 + "F---"] + [ground] * 2
        tmp = root / f".tmp{k}"
        tmp.write_text("\n".join(rows) + "\n")
        os.replace(tmp, root / f"level_{k:07d}.txt")
        k += 1
"""


def test_a_level_stream_feeds_the_pool_from_its_process_and_resumes_exactly(tmp_path: Path) -> None:
    """The env plays level k of an outside process's stream (LevelStream), as many as it needs, in
    order; which levels come next is in the supply's state (exact resume)."""
    import sys

    from envs.mario.supply import LevelStream, LevelSupply

    stream = LevelStream("test-stream", (sys.executable, "-c", STREAM_WRITER), str(tmp_path / "levels"))
    supply = LevelSupply(stream, train_levels=0, pool=2, level_episodes=1)
    supply.seed(0)
    first = [supply.draw()[0] for _ in range(6)]
    assert all(k[0] == "stream" for k in first) and {k[1] for k in first} <= set(range(7))
    assert supply.name == "test-stream[0:]"
    state = supply.state_dict()
    later = [supply.draw() for _ in range(5)]
    widths = {k[1]: data.level.width for k, data in later}
    assert all(w == 40 for w in widths.values())
    assert max(k[1] for k, _ in later) >= 6  # the stream kept coming past the first pool
    again = LevelSupply(stream, train_levels=0, pool=2, level_episodes=1)
    again.seed(0)
    again.load_state_dict(state)
    assert [again.draw()[0] for _ in range(5)] == [k for k, _ in later]
    supply.close()
    again.close()


def test_a_level_stream_whose_process_dies_is_one_line(tmp_path: Path) -> None:
    import sys

    from envs.mario.level import LevelError
    from envs.mario.supply import LevelStream, LevelSupply

    dead = LevelStream("dead-stream", (sys.executable, "-c", "import sys; sys.exit(3)"), str(tmp_path / "none"))
    supply = LevelSupply(dead, train_levels=0, pool=2, level_episodes=1)
    supply.seed(0)
    with pytest.raises(LevelError, match="the level stream dead-stream stopped before its level [01] "):
        supply.draw()
    supply.close()


def test_gan_levels_stream_with_unbounded_train_levels(tmp_path: Path) -> None:
    from envs.mario.supply import LevelStream
    from lab.gan_levels import gan_levels

    run = tmp_path / "levelgan"
    train(["agent=dcgan", *SMALL, "trainer.total_steps=2", "trainer.eval_every=0", "trainer.log_every=0",
           "trainer.checkpoint_every=0"], run)
    stream = gan_levels(f"gan:{run}", train_levels=0)
    assert isinstance(stream, LevelStream)
    assert stream.command[-3:] == ("lab.levels", "stream", str(run / "checkpoints" / "best.pt"))
    assert gan_levels(f"gan:{run}", train_levels=0) == stream  # the same GAN, the same stream (and cache)
