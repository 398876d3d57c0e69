"""Level distributions in the native Mario vector env: each game plays its own level, drawn at
every reset from one level, a set (procedural seeds, files, folders, lists) or an unbounded stream."""

from pathlib import Path

import numpy as np
import pytest

from envs.mario.level import BUILTIN_LEVELS, LEVELS_DIR, LevelError
from envs.mario.supply import EVAL_SEEDS, LevelSupply, seed_difficulty
from envs.mario.vector import MarioVectorEnv

HAND_LEVEL = "\n".join([
    "--------------------",
    "---------o----------",
    "--------???---------",
    "--M---------g----F--",
    "XXXXXXX--XXXXXXXXXXX",
    "XXXXXXX--XXXXXXXXXXX",
])


@pytest.fixture(autouse=True)
def level_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LAB_LEVEL_CACHE", str(tmp_path_factory.getbasetemp() / "level-cache"))


def _play(env: MarioVectorEnv, actions: np.ndarray) -> list[tuple]:
    return [env.step(a) for a in actions]


@pytest.mark.parametrize("obs", [{"obs": "grid"}, {"obs": "pixels", "grayscale": True, "resolution": 84}])
def test_two_games_on_two_levels_step_exactly_as_each_would_alone(obs: dict) -> None:
    # a wide level with enemies beside a narrow one with few: padding and spare enemy slots are never read
    levels = [str(LEVELS_DIR / "enemies.txt"), "pits"]
    for seed in range(50):
        batch = MarioVectorEnv(num_envs=2, level=levels, sticky_actions=0.25, **obs)
        first, _ = batch.reset(seed=seed)
        if batch.levels[0].name != batch.levels[1].name:
            break
    played = batch.levels  # each game's first level (the next reset draws again)
    assert played[0].width != played[1].width
    rng = np.random.default_rng(0)
    actions = rng.integers(0, batch.single_action_space.n, size=(400, 2))
    out = _play(batch, actions)
    for i in range(2):
        alone = MarioVectorEnv(num_envs=1, level=played[i], sticky_actions=0.25, **obs)
        obs0, _ = alone.reset(seed=seed + i)
        np.testing.assert_array_equal(obs0[0], first[i])
        for t, (o, r, term, trunc, info) in enumerate(out):
            o1, r1, term1, trunc1, info1 = alone.step(actions[t, i:i + 1])
            np.testing.assert_array_equal(o1[0], o[i], err_msg=f"game {i} step {t}")
            assert (r1[0], term1[0], trunc1[0], info1["x_pos"][0]) == (r[i], term[i], trunc[i], info["x_pos"][i])
            if term[i] or trunc[i]:
                break  # the batch draws game i's next level at its next step
        assert t > 10


def test_train_levels_plays_those_seeds_each_at_its_own_difficulty() -> None:
    env = MarioVectorEnv(num_envs=16, level="procedural", train_levels=4, seed=10, difficulty=[0.2, 0.6])
    env.reset(seed=3)
    seen = set()
    rng = np.random.default_rng(1)
    for _ in range(600):
        env.step(rng.integers(0, env.single_action_space.n, size=16))
        seen |= {lv.name for lv in env.levels}
    expected = {f"procedural-{s}-{seed_difficulty(s, (0.2, 0.6)):g}" for s in range(10, 14)}
    assert seen == expected
    assert all(0.2 <= seed_difficulty(s, (0.2, 0.6)) <= 0.6 for s in range(100))
    assert len({seed_difficulty(s, (0.2, 0.6)) for s in range(100)}) > 50  # each seed its own difficulty
    # the same reset seed draws the same levels; another seed other ones
    again = MarioVectorEnv(num_envs=16, level="procedural", train_levels=4, seed=10, difficulty=[0.2, 0.6])
    again.reset(seed=3)
    other = MarioVectorEnv(num_envs=16, level="procedural", train_levels=4, seed=10, difficulty=[0.2, 0.6])
    other.reset(seed=4)
    fresh = MarioVectorEnv(num_envs=16, level="procedural", train_levels=4, seed=10, difficulty=[0.2, 0.6])
    fresh.reset(seed=3)
    assert [lv.name for lv in again.levels] == [lv.name for lv in fresh.levels]
    assert [lv.name for lv in other.levels] != [lv.name for lv in fresh.levels]


def test_a_list_mixes_built_in_names_files_and_folders(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "one.txt").write_text(HAND_LEVEL)
    (folder / "two.txt").write_text(HAND_LEVEL.replace("g", "k"))
    (folder / "notes.md").write_text("not a level")
    single = tmp_path / "three.txt"
    single.write_text(HAND_LEVEL.replace("???", "BBB"))
    env = MarioVectorEnv(num_envs=32, level=["intro", str(folder), str(single)])
    env.reset(seed=0)
    seen = {lv.name for lv in env.levels}
    rng = np.random.default_rng(0)
    for _ in range(300):
        env.step(rng.integers(0, env.single_action_space.n, size=32))
        seen |= {lv.name for lv in env.levels}
    assert seen == {"intro", "one", "two", "three"}


@pytest.mark.parametrize("replay", [0.0, 0.5])
def test_an_unbounded_stream_brings_new_levels_and_resumes_exactly(replay: float) -> None:
    kw = dict(num_envs=16, level="procedural", train_levels=0, level_pool=4, level_episodes=2, difficulty=0.3,
              level_replay=replay)
    env = MarioVectorEnv(**kw)
    env.reset(seed=5)
    rng = np.random.default_rng(2)
    seen = set()
    for _ in range(300):
        env.step(rng.integers(0, env.single_action_space.n, size=16))
        seen |= {lv.name for lv in env.levels}
    assert len(seen) > 12  # far more than the pool: levels keep coming
    seeds = [int(name.split("-")[1]) for name in seen]
    assert min(seeds) == 0 and max(seeds) < EVAL_SEEDS
    state = env.get_state()
    actions = rng.integers(0, env.single_action_space.n, size=(300, 16))
    ahead = _play(env, actions)
    names = [lv.name for lv in env.levels]
    resumed = MarioVectorEnv(**kw)
    resumed.reset(seed=99)  # another history: set_state replaces all of it
    resumed.set_state(state)
    again = _play(resumed, actions)
    for (o, r, te, tr, _), (o2, r2, te2, tr2, _) in zip(ahead, again):
        np.testing.assert_array_equal(o, o2)
        np.testing.assert_array_equal(r, r2)
        np.testing.assert_array_equal(te | tr, te2 | tr2)
    assert [lv.name for lv in resumed.levels] == names
    env.close()
    resumed.close()


def test_a_state_from_other_levels_is_refused() -> None:
    env = MarioVectorEnv(num_envs=2, level="procedural", train_levels=3)
    env.reset(seed=0)
    other = MarioVectorEnv(num_envs=2, level="procedural", train_levels=4)
    other.reset(seed=0)
    with pytest.raises(ValueError, match="procedural"):
        other.set_state(env.get_state())


@pytest.mark.parametrize("kwargs,message", [
    ({"level": "procedural", "train_levels": -1}, "train_levels must be >= 0"),
    ({"level": "procedural", "train_levels": 5, "difficulty": [0.9, 0.1]}, "has low > high"),
    ({"level": "procedural", "train_levels": 5, "difficulty": [0.1, 1.5]}, "within [0, 1]"),
    ({"level": []}, "empty list"),
    ({"level": ["intro", "pits"], "replay": 1.5}, "level_replay must be in [0, 1]"),
])
def test_bad_level_settings_are_one_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(LevelError, match=message.replace("[", r"\[")):
        LevelSupply(**kwargs)


def test_level_replay_draws_the_levels_the_agent_fails_more_often() -> None:
    """env.level_replay: that share of draws follows each level's failure rate; the rest stay uniform."""
    def share_of_pits(replay: float) -> float:
        supply = LevelSupply(["intro", "pits"], replay=replay, prefetch=False)
        supply.seed(0)
        intro, pits = supply.keys
        supply.record([intro] * 48 + [pits] * 48, np.array([True] * 48 + [False] * 48))
        return np.mean([supply.draw()[0] == pits for _ in range(2000)])

    assert 0.45 < share_of_pits(0.0) < 0.55  # uniform: the counts are not used when replay is off
    assert share_of_pits(1.0) > 0.95  # failure rates 49/50 against 1/50
    assert 0.7 < share_of_pits(0.5) < 0.8  # half uniform: 0.5 * 0.5 + 0.5 * 0.98 = 0.74


def test_level_replay_scores_the_episodes_the_env_ends() -> None:
    """The vector env reports each ended episode's level and whether it reached the flag; the
    training env replays, evaluation's env (level_replay 0) does not record."""
    env = MarioVectorEnv(num_envs=8, level=["intro", "pits"], level_replay=0.5, time_limit=5)
    env.reset(seed=0)
    for _ in range(200):  # a 5-unit timer: every episode ends in time, none cleared
        env.step(np.zeros(8, dtype=np.int64))
    tally = env.supply._tally
    assert set(tally) == set(env.supply.keys)
    assert sum(n for n, _ in tally.values()) >= 16 and all(won == 0 for _, won in tally.values())
    plain = MarioVectorEnv(num_envs=8, level=["intro", "pits"], time_limit=5)
    plain.reset(seed=0)
    for _ in range(50):
        plain.step(np.zeros(8, dtype=np.int64))
    assert plain.supply._tally == {}


def test_one_level_stays_the_default_and_uses_no_level_draws() -> None:
    for name in BUILTIN_LEVELS:
        supply = LevelSupply(name)
        assert supply.fixed and supply.name == name
    env = MarioVectorEnv(num_envs=4, level="procedural", seed=3, difficulty=0.2)
    assert env.supply.fixed and env.level.name == "procedural-3-0.2"


def test_held_out_sets_never_share_a_level_with_training() -> None:
    from envs.mario.supply import heldout_sets

    sets = heldout_sets({"level": "procedural", "train_levels": 50, "difficulty": [0.2, 0.6]})
    names = [name for name, _, _ in sets]
    assert names == [*BUILTIN_LEVELS, "procedural"]  # auto on a level set: built-ins + 200 procedural
    _, procedural, episodes = sets[-1]
    assert episodes == 200 and procedural["seed"] == EVAL_SEEDS and procedural["train_levels"] == 200
    assert procedural["difficulty"] == [0.2, 0.6] and procedural["level_order"] == "sequential"
    assert heldout_sets({"level": "intro"}) == []  # one training level: evaluation plays it, nothing else
    trained_on_pits = [name for name, _, _ in heldout_sets({"level": "pits"}, "heldout")]
    assert trained_on_pits == ["intro", "enemies", "stairs", "procedural"]
    with pytest.raises(LevelError, match="eval level pits is also a training level"):
        heldout_sets({"level": ["intro", "pits"]}, ["pits"])


def test_sequential_order_plays_each_level_of_a_set_once() -> None:
    env = MarioVectorEnv(num_envs=6, level="procedural", train_levels=6, seed=EVAL_SEEDS, level_order="sequential")
    env.reset(seed=0)
    assert [lv.name.split("-")[1] for lv in env.levels] == [str(EVAL_SEEDS + i) for i in range(6)]


def test_training_on_a_level_set_reports_held_out_clear_rate_and_the_gap(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from lab import train

    result = train("agent=ppo", "env=mario", "env.level=procedural", "env.train_levels=4", "env.num_envs=16",
                   "agent.batch_size=256", "env.eval_heldout_levels=6", "env.eval_level_episodes=2",
                   "env.eval_episodes=4", "trainer.total_steps=4096", "trainer.eval_every=0", "wandb.mode=disabled",
                   run_dir=tmp_path / "run")
    final = result.final
    for name in [*BUILTIN_LEVELS, "procedural"]:
        assert 0.0 <= final[f"heldout/{name}/clear_rate"] <= 1.0 and 0.0 < final[f"heldout/{name}/progress"] <= 1.0
    assert final["gap/clear_rate"] == pytest.approx(final["clear_rate"] - final["heldout/clear_rate"])
    assert final["gap/progress"] == pytest.approx(final["progress"] - final["heldout/progress"])
    # lab.watch plays the trained agent on a level it never saw, by an override after the run
    proc = subprocess.run([sys.executable, "-m", "lab.watch", str(tmp_path / "run"), "env.level=stairs",
                           "--episodes", "2", "--no-video", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shown = json.loads(proc.stdout)
    assert len(shown["episodes"]) == 2


def test_report_shows_the_clear_rate_per_level_set(tmp_path: Path) -> None:
    import json

    import yaml

    from lab.report import main as report

    for train_levels, rates in ((10, (0.9, 0.2)), (1000, (0.8, 0.6))):
        for seed in range(3):
            run = tmp_path / f"n{train_levels}_s{seed}"
            (run / ".hydra").mkdir(parents=True)
            (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"agent": {"name": "ppo"}, "seed": seed}))
            (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
                [f"env.train_levels={train_levels}", f"seed={seed}"]))
            train_rate, held = rates[0] + 0.01 * seed, rates[1] + 0.01 * seed
            final = {"return_mean": 1.0, "clear_rate": train_rate, "heldout/clear_rate": held,
                     "gap/clear_rate": train_rate - held, "heldout/intro/clear_rate": held,
                     "heldout/procedural/clear_rate": held}
            (run / "result.json").write_text(json.dumps({"completed": True, "score": "return_mean", "final": final}))
            (run / "metrics.jsonl").write_text(json.dumps({"step": 1, **{f"eval/{k}": v for k, v in final.items()}})
                                               + "\n")
    assert report([str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "| group | training levels | held out | gap | intro | procedural |" in text
    assert "| env.train_levels=10 | 0.91 [0.90, 0.92] | 0.21 [0.20, 0.22] | 0.70 [0.70, 0.70] |" in text


def test_level_replay_on_a_set_resumes_exactly() -> None:
    """The failure counts are in the env's state: a restored env draws the same levels."""
    kw = dict(num_envs=16, level="procedural", train_levels=12, difficulty=0.3, level_replay=0.7, time_limit=40)
    env = MarioVectorEnv(**kw)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    _play(env, rng.integers(0, 5, size=(300, 16)))
    assert sum(n for n, _ in env.supply._tally.values()) > 20  # episodes counted before the state is taken
    state = env.get_state()
    actions = rng.integers(0, 5, size=(300, 16))
    ahead = _play(env, actions)
    resumed = MarioVectorEnv(**kw)
    resumed.reset(seed=9)
    resumed.set_state(state)
    for (o, r, *_), (o2, r2, *_) in zip(ahead, _play(resumed, actions)):
        np.testing.assert_array_equal(o, o2)
        np.testing.assert_array_equal(r, r2)
    assert [lv.name for lv in resumed.levels] == [lv.name for lv in env.levels]
