"""Gymnasium API of lab/Mario-v0: checkers, determinism, make/make_vec kwargs, NEXT_STEP
autoreset, exact get_state/set_state, the procedural generator and rendering."""

import gymnasium as gym
import numpy as np
import pytest

import envs.mario
from envs.mario.env import MarioEnv
from envs.mario.generator import generate_level
from envs.mario.catalog import load_level
from envs.mario.render import COLORS
from envs.mario.solver import solve
from envs.mario.vector import MarioVectorEnv

envs.mario.register()
envs.mario.register()  # idempotent


@pytest.mark.parametrize("kwargs", [dict(obs="grid"), dict(obs="pixels", grayscale=True, resolution=84, frame_stack=4)])
def test_gymnasium_and_sb3_env_checkers(kwargs):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    check_env(MarioEnv(**kwargs), skip_render_check=True)
    sb3_check_env(MarioEnv(**kwargs))


def _rollout(env, seed: int, n: int = 150) -> tuple[list, list]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    obs_list, rewards = [obs], []
    for _ in range(n):
        obs, r, term, trunc, info = env.step(int(rng.integers(env.action_space.n)))
        obs_list.append(obs)
        rewards.append((r, term, trunc, info["x_pos"]))
        if term or trunc:
            obs, _ = env.reset()
    return obs_list, rewards


def test_deterministic_given_seed():
    a = _rollout(MarioEnv(level="enemies", sticky_actions=0.25), seed=3)
    b = _rollout(MarioEnv(level="enemies", sticky_actions=0.25), seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0])) and a[1] == b[1]


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(level="pits", obs="grid"), (16, 16)),
        (dict(level="stairs", obs="pixels"), (240, 256, 3)),
        (dict(level="enemies", obs="pixels", grayscale=True, resolution=84), (84, 84)),
        (dict(level="procedural", seed=1, difficulty=0.3, obs="grid", frame_stack=2), (2, 16, 16)),
    ],
)
def test_make_and_make_vec_take_level_and_obs(kwargs, shape):
    env = gym.make("lab/Mario-v0", **kwargs)
    obs, info = env.reset(seed=0)
    assert obs.shape == shape and obs.dtype == np.uint8 and env.observation_space.contains(obs)
    assert {"x_pos", "y_pos", "coins", "flag_get", "life", "time", "status", "world", "stage"} <= set(info)
    venv = gym.make_vec("lab/Mario-v0", num_envs=3, **kwargs)
    assert isinstance(venv.unwrapped, MarioVectorEnv)
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    vobs, _ = venv.reset(seed=0)
    assert vobs.shape == (3, *shape) and np.array_equal(vobs[0], obs)
    vobs, r, term, trunc, vinfo = venv.step(np.array([1, 2, 3]))
    assert vobs.shape == (3, *shape) and r.shape == (3,) and vinfo["x_pos"].shape == (3,)


def test_next_step_autoreset_semantics():
    env = MarioVectorEnv(num_envs=2, level="intro", max_episode_steps=5)
    obs0, _ = env.reset(seed=0)
    for t in range(5):
        obs, r, term, trunc, info = env.step(np.array([4, 0]))
    assert trunc.all() and not term.any()
    obs, r, term, trunc, info = env.step(np.array([4, 4]))  # action ignored: reset
    assert np.array_equal(obs, obs0) and (r == 0).all() and not (term | trunc).any()
    assert (info["x_pos"] == info["x_pos"][0]).all()
    # Death terminates; the next step resets.
    env = MarioVectorEnv(num_envs=1, level="pits", actions="right_only")
    env.reset(seed=0)
    for _ in range(400):
        obs, r, term, trunc, info = env.step(np.array([1]))
        if term[0]:
            break
    assert term[0] and info["life"][0] == 0 and not info["flag_get"][0]
    obs, r, term, trunc, info = env.step(np.array([1]))
    assert r[0] == 0 and not term[0] and info["life"][0] == 1


def test_get_state_set_state_round_trip_gives_identical_futures():
    kw = dict(num_envs=8, level="enemies", obs="pixels", grayscale=True, resolution=84, frame_stack=3,
              sticky_actions=0.2, max_episode_steps=40)
    env = MarioVectorEnv(**kw)
    env.reset(seed=5)
    rng = np.random.default_rng(1)
    for _ in range(30):
        env.step(rng.integers(0, 7, size=8))
    state = env.get_state()
    for k, v in state.items():
        if k == "np_random":  # the one RNG convention (lab.core.rng): bit_generator.state, plain values
            assert v["bit_generator"] == "PCG64" and isinstance(v["state"]["state"], int)
            continue
        assert isinstance(v, (np.ndarray, int, str)) and not isinstance(v, bool)
    actions = rng.integers(0, 7, size=(60, 8))

    def future(e):
        out = [e.step(a) for a in actions]
        out.append(e.reset())  # unseeded reset draws from the saved generator
        return out

    a = future(env)
    other = MarioVectorEnv(**kw)
    other.reset(seed=99)
    other.set_state(state)
    b = future(other)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            if isinstance(u, dict):
                assert all(np.array_equal(u[k], v[k]) for k in u)
            else:
                assert np.array_equal(u, v)


@pytest.mark.parametrize("name", ["intro", "pits", "enemies", "stairs"])
def test_builtin_levels_are_beatable(name):
    actions = solve(load_level(name))
    assert actions is not None
    env = MarioEnv(level=name)
    env.reset(seed=0)
    for a in actions:
        _, r, term, trunc, info = env.step(a)
        if term or trunc:
            break
    assert info["flag_get"] and term and r > 40  # the flag bonus


def test_procedural_levels_are_seeded_and_beatable():
    a, b = generate_level(seed=7, difficulty=0.8), generate_level(seed=7, difficulty=0.8)
    assert a.text == b.text
    assert generate_level(seed=8, difficulty=0.8).text != a.text
    assert generate_level(seed=7, difficulty=0.1).width < a.width
    for seed in range(3):
        for difficulty in (0.0, 0.5, 1.0):
            assert solve(generate_level(seed=seed, difficulty=difficulty)) is not None
    with pytest.raises(ValueError):
        generate_level(seed=0, difficulty=1.5)


def test_pixels_show_distinct_colours_for_ground_player_enemy_flag():
    env = MarioEnv(level="intro", obs="pixels", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (240, 256, 3) and np.array_equal(frame, obs)
    state = env.get_state()  # move player and camera so that the first goomba is on screen
    state["P"][0, 0], state["P"][0, 10] = 250 * 4096, 150  # PX (subpixels), PCAM (pixels)
    env.set_state(state)
    obs, *_ = env.step(0)
    colours = {tuple(c) for c in obs.reshape(-1, 3)}
    named = {k: COLORS[k] for k in ("sky", "ground", "player", "goomba")}
    assert len(set(named.values())) == len(named)
    for k, c in named.items():
        assert c in colours, k
    # The flag pole and cloth are drawn at the end of the level.
    state = env.get_state()
    state["P"][0, 10] = (env.level.width - 16) * 16  # PCAM: look at the last screen
    env.set_state(state)
    end = {tuple(c) for c in env.render().reshape(-1, 3)}
    assert COLORS["flag"] in end and COLORS["pole"] in end and COLORS["flag"] not in colours
    # Grayscale 84x84 keeps those apart too.
    gray = MarioVectorEnv(num_envs=1, level="intro", obs="pixels", grayscale=True, resolution=84)
    g, _ = gray.reset(seed=0)
    assert len(np.unique(g)) >= 4


def test_the_grid_and_the_info_show_the_mushroom_and_big_mario(tmp_path):
    from envs.mario.batch import GRID_CODES
    from envs.mario.engine import PBIG, PY, SHIFT

    rows = ["-" * 30 for _ in range(16)]
    rows[14] = rows[15] = "X" * 30
    rows[13] = "--M" + "-" * 26 + "F"
    rows[10] = "--@" + "-" * 27
    path = tmp_path / "mushroom.txt"
    path.write_text("\n".join(rows))
    env = MarioEnv(level=str(path), actions="complex")
    obs, info = env.reset(seed=0)
    assert info["status"] == "small" and GRID_CODES["mushroom"] not in obs  # still inside its block
    env.step(env.actions.index(["NOOP"]))  # land first: a jump starts when A is pressed on the ground
    for _ in range(10):
        obs, *_ = env.step(env.actions.index(["A"]))
    assert GRID_CODES["mushroom"] in obs
    vec = env.unwrapped._vec
    vec._state["P"][0, PBIG] = 1
    vec._state["P"][0, PY] -= 16 << SHIFT
    obs, *_, info = env.step(env.actions.index(["NOOP"]))
    assert info["status"] == "tall"
    assert (obs == GRID_CODES["player"]).sum() == 2  # big Mario fills two cells, one above the other
