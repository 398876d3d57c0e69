"""Replay numerics against hand-computed values: sum tree, proportional sampling, importance
weights, n-step returns across episode ends and truncations, frame-stack storage and size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.replay import ReplayBuffer, SumTree, n_step_return


# --------------------------------------------------------------------------- sum tree
def test_sum_tree_totals_min_and_search() -> None:
    tree = SumTree(5)  # 8 leaves internally
    tree.set(np.arange(5), [1.0, 2.0, 3.0, 4.0, 0.0])
    assert tree.total == 10.0 and tree.min == 1.0
    assert tree.sums[2] == 10.0 and tree.sums[3] == 0.0     # leaves 0-3 | 4-7
    assert tree.sums[4] == 3.0 and tree.sums[5] == 7.0      # leaves 0-1 | 2-3
    # prefix sums: [0,1) -> 0, [1,3) -> 1, [3,6) -> 2, [6,10) -> 3; the 0 leaf is never found
    u = np.array([0.0, 0.99, 1.0, 2.99, 3.0, 5.99, 6.0, 9.99, 10.0 - 1e-12])
    np.testing.assert_array_equal(tree.find(u), [0, 0, 1, 1, 2, 2, 3, 3, 3])
    tree.set(np.array([3, 0]), [0.5, 0.0])                 # update: sums are recomputed, not patched
    assert tree.total == 5.5 and tree.min == 0.5
    np.testing.assert_array_equal(tree.find(np.array([0.0, 2.0, 5.4])), [1, 2, 3])
    tree.set(np.array([1, 1]), [7.0, 9.0])                 # repeated index: the last value wins
    assert tree.get(np.array([1]))[0] == 9.0 and tree.total == 12.5


def test_sum_tree_range_update_matches_point_updates() -> None:
    rng = np.random.default_rng(0)
    a, b = SumTree(37), SumTree(37)
    for _ in range(20):
        start = int(rng.integers(0, 30))
        values = rng.random(int(rng.integers(1, 37 - start))) * (rng.random() > 0.3)
        a.set_range(start, values)
        b.set(np.arange(start, start + len(values)), values)
    np.testing.assert_allclose(a.sums, b.sums)
    np.testing.assert_array_equal(a.mins, b.mins)


# --------------------------------------------------------------------------- n-step returns
def test_n_step_return_hand_computed() -> None:
    g = 0.5
    r = np.array([[1.0, 2.0, 4.0],    # no episode end: 1 + 0.5*2 + 0.25*4 = 3, bootstrap 0.125
                  [1.0, 2.0, 4.0],    # terminates at step 1: 1 + 0.5*2 = 2, no bootstrap
                  [1.0, 2.0, 4.0],    # truncated at step 1: 2, bootstraps gamma^2 from s_{t+2}
                  [1.0, 2.0, 4.0]])   # terminates at step 0: 1, m = 1
    term = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]], dtype=bool)
    trunc = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    G, disc, m = n_step_return(r, term, trunc, g)
    np.testing.assert_allclose(G, [3.0, 2.0, 2.0, 1.0])
    np.testing.assert_allclose(disc, [0.125, 0.0, 0.25, 0.0])
    np.testing.assert_array_equal(m, [3, 2, 2, 1])


def _fill(buf: ReplayBuffer, steps: list[tuple]) -> None:
    """steps: (obs, action, reward, terminated, truncated, valid) per vector step, one env."""
    for obs, a, r, te, tr, v in steps:
        buf.add(np.array([[obs]], np.float32), np.array([a]), np.array([r], np.float32),
                np.array([te]), np.array([tr]), np.array([v]))


def _all_transitions(buf: ReplayBuffer) -> dict[float, tuple]:
    """Sample until every sampleable transition is seen; key: its observation."""
    rng = np.random.default_rng(0)
    out: dict[float, tuple] = {}
    for _ in range(50):
        s = buf.sample(64, rng)
        for i in range(64):
            out[float(s.obs[i, 0])] = (float(s.returns[i]), float(s.discounts[i]), float(s.next_obs[i, 0]))
    return out


def test_n_step_replay_across_episode_ends_and_truncation() -> None:
    # One env, NEXT_STEP autoreset. Episode A: obs 0,1,2, terminates on the step from 2.
    # Reset step from obs 3 (A's final obs; invalid). Episode B: obs 10, 11, truncated on the
    # step from 11; reset step from 12 (B's final obs). Episode C: obs 20, 21, 22, ...
    g = 0.5
    buf = ReplayBuffer(100, 1, (1,), np.float32, n_step=2, gamma=g)
    _fill(buf, [(0, 0, 1, 0, 0, 1), (1, 0, 2, 0, 0, 1), (2, 0, 4, 1, 0, 1), (3, 0, 0, 0, 0, 0),
                (10, 0, 1, 0, 0, 1), (11, 0, 2, 0, 1, 1), (12, 0, 0, 0, 0, 0),
                (20, 0, 1, 0, 0, 1), (21, 0, 1, 0, 0, 1), (22, 0, 1, 0, 0, 1)])
    seen = _all_transitions(buf)
    # reset steps (3, 12) are not stored; 21 and 22 lack their full 2-step window yet
    assert sorted(seen) == [0, 1, 2, 10, 11, 20]
    assert seen[0] == (1 + g * 2, g ** 2, 2)       # (G, discount, s_{t+n})
    assert seen[1] == (2 + g * 4, 0.0, 3)          # the window ends at the termination
    assert seen[2] == (4, 0.0, 3)                  # terminated: no bootstrap
    assert seen[10] == (1 + g * 2, g ** 2, 12)     # truncated inside: bootstraps from B's final obs
    assert seen[11] == (2, g, 12)                  # truncated: bootstraps gamma^1 V(final obs)
    assert seen[20] == (1 + g * 1, g ** 2, 22)
    assert len(buf) == 6


def test_uniform_sampling_is_uniform_over_sampleable() -> None:
    buf = ReplayBuffer(50, 2, (1,), np.float32)
    for t in range(10):
        buf.add(np.array([[t], [100 + t]], np.float32), np.zeros(2), np.zeros(2), np.zeros(2, bool),
                np.zeros(2, bool), np.array([True, t % 3 != 0]))
    # complete (n=1): rows 0..8; env 1's rows 0, 3, 6 are reset steps -> 9 + 6 = 15 transitions
    assert len(buf) == 15
    s = buf.sample(30_000, np.random.default_rng(1))
    values, counts = np.unique(s.obs[:, 0], return_counts=True)
    assert sorted(values) == [*range(9), 101, 102, 104, 105, 107, 108]
    np.testing.assert_allclose(counts / 30_000, 1 / 15, atol=0.01)
    np.testing.assert_allclose(buf.probabilities(s.indices[:5]), 1 / 15)


# --------------------------------------------------------------------------- prioritised replay
def test_prioritised_probabilities_and_importance_weights() -> None:
    alpha, beta = 0.5, 0.4
    buf = ReplayBuffer(10, 1, (1,), np.float32, prioritized=True, alpha=alpha, eps=0.0)
    _fill(buf, [(i, 0, 0, 0, 0, 1) for i in range(5)])     # 4 complete transitions, rows 0-3
    assert buf.tree.total == 4.0                           # new transitions get max priority 1
    buf.update_priorities(np.arange(4), np.array([1.0, 4.0, 9.0, 16.0]))
    p = np.array([1.0, 2.0, 3.0, 4.0])                     # |delta|^0.5
    np.testing.assert_allclose(buf.probabilities(np.arange(4)), p / 10)
    assert buf.max_priority == 4.0
    s = buf.sample(40_000, np.random.default_rng(0), beta=beta)
    freq = np.bincount(s.indices, minlength=4) / 40_000
    np.testing.assert_allclose(freq, p / 10, atol=0.01)
    # w_i = (N P(i))^-beta / max_j (N P(j))^-beta = (p_min / p_i)^beta
    for i in range(4):
        w = s.weights[s.indices == i]
        np.testing.assert_allclose(w, ((4 * p[i] / 10) ** -beta) / ((4 * 1 / 10) ** -beta), rtol=1e-6)
    assert s.weights.max() == pytest.approx(1.0)
    # a new transition enters with the largest priority so far
    _fill(buf, [(5, 0, 0, 0, 0, 1)])
    assert buf.tree.get(np.array([4]))[0] == 4.0 and buf.tree.total == 14.0


def test_ring_wrap_drops_the_oldest_from_the_sum_tree() -> None:
    buf = ReplayBuffer(6, 1, (1,), np.float32, prioritized=True, n_step=2)
    _fill(buf, [(i, 0, 0, 0, 0, 1) for i in range(9)])     # 9 rows into a ring of 6
    # held: obs 3..8; complete with n=2: 3..6
    assert len(buf) == 4 and buf.tree.total == 4.0
    seen = _all_transitions(buf)
    assert sorted(seen) == [3, 4, 5, 6] and seen[6][2] == 8


# --------------------------------------------------------------------------- frame stacks
def _stacks(frames: list[int], k: int, pad: str) -> list[np.ndarray]:
    """The stacked observations an env emits for one episode of frame values."""
    out, hist = [], []
    for f in frames:
        if not hist:
            hist = [f if pad == "repeat" else 0] * (k - 1)
        hist = (hist + [f])[-k:]
        out.append(np.array(hist, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8))
    return out


@pytest.mark.parametrize("pad", ["repeat", "zero"])
def test_frame_stacks_are_stored_once_and_rebuilt_exactly(pad: str) -> None:
    k = 3
    ep1, ep2 = _stacks([1, 2, 3, 4], k, pad), _stacks([11, 12, 13, 14, 15], k, pad)
    # one env: episode 1 terminates on the step from its obs 4; the reset step's obs is ep1's
    # final obs (5, one more frame); then episode 2
    final1 = _stacks([1, 2, 3, 4, 5], k, pad)[-1]
    stream = ep1 + [final1] + ep2
    valid = [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]
    term = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    buf = ReplayBuffer(40, 1, (k, 2, 2), np.uint8, frame_stack=k)
    assert buf.frames.shape == (40, 1, 2, 2)               # one frame per row, not k
    for obs, v, te in zip(stream, valid, term):
        buf.add(obs[None], np.array([0]), np.array([1.0]), np.array([bool(te)]), np.array([False]),
                np.array([bool(v)]))
    s = buf.sample(500, np.random.default_rng(0))
    expect = {int(o[-1, 0, 0]): (o, n) for o, n in zip(stream[:-1], stream[1:]) if True}
    for i in range(500):
        newest = int(s.obs[i, -1, 0, 0])
        obs, nxt = expect[newest]
        np.testing.assert_array_equal(s.obs[i], obs)
        np.testing.assert_array_equal(s.next_obs[i], nxt)
    assert 5 not in set(s.obs[:, -1, 0, 0].tolist())         # the reset step is never sampled
    assert set(s.obs[:, -1, 0, 0].tolist()) == {1, 2, 3, 4, 11, 12, 13, 14}


def test_observations_that_are_not_a_stack_are_refused() -> None:
    buf = ReplayBuffer(40, 1, (3, 2, 2), np.uint8, frame_stack=3)
    one = lambda: (np.array([0]), np.array([0.0]), np.array([False]), np.array([False]), np.array([True]))
    buf.add(np.random.default_rng(0).integers(0, 255, (1, 3, 2, 2), dtype=np.uint8), *one())
    with pytest.raises(ValueError, match="stack of 3 frames"):
        buf.add(np.random.default_rng(1).integers(0, 255, (1, 3, 2, 2), dtype=np.uint8), *one())


def test_atari_sized_buffer_fits_well_under_10_gb() -> None:
    # 1M transitions of 4 stacked 84x84 uint8 frames, prioritised: computed, not allocated
    nbytes = ReplayBuffer.nbytes_for(1_000_000, 1, (4, 84, 84), np.uint8, frame_stack=4, prioritized=True)
    assert nbytes < 10e9
    assert nbytes < 1_000_000 * 84 * 84 * 1.01 + 50e6      # ~one frame per transition (7.1 GB)
    # the formula matches what a real (small) buffer allocates
    for n_envs, prioritized in ((1, True), (3, False)):
        buf = ReplayBuffer(1000, n_envs, (4, 84, 84), np.uint8, frame_stack=4, prioritized=prioritized)
        assert buf.nbytes == ReplayBuffer.nbytes_for(1000, n_envs, (4, 84, 84), np.uint8, frame_stack=4,
                                                     prioritized=prioritized)


def test_state_dict_round_trip_is_exact_and_weights_only_loadable(tmp_path) -> None:
    buf = ReplayBuffer(20, 2, (3, 2, 2), np.uint8, frame_stack=3, n_step=2, prioritized=True)
    rng = np.random.default_rng(0)
    obs = np.zeros((2, 3, 2, 2), np.uint8)
    for t in range(15):
        obs = np.concatenate([obs[:, 1:], np.full((2, 1, 2, 2), t, np.uint8)], axis=1)
        buf.add(obs, rng.integers(0, 2, 2), rng.random(2), rng.random(2) < 0.1, np.zeros(2, bool), np.ones(2, bool))
    buf.update_priorities(np.flatnonzero(buf.sampleable.reshape(-1))[:3], np.array([0.5, 2.0, 3.0]))
    torch.save(buf.state_dict(), tmp_path / "replay.pt")
    other = ReplayBuffer(20, 2, (3, 2, 2), np.uint8, frame_stack=3, n_step=2, prioritized=True)
    other.load_state_dict(torch.load(tmp_path / "replay.pt", weights_only=True))
    a, b = buf.sample(32, np.random.default_rng(5), 0.5), other.sample(32, np.random.default_rng(5), 0.5)
    for name in ("obs", "actions", "returns", "discounts", "next_obs", "weights", "indices"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    obs = np.concatenate([obs[:, 1:], np.full((2, 1, 2, 2), 99, np.uint8)], axis=1)
    for x in (buf, other):  # and both continue alike
        x.add(obs, np.array([0, 1]), np.ones(2), np.zeros(2, bool), np.zeros(2, bool), np.ones(2, bool))
    assert buf.count == other.count and np.array_equal(buf.tree.sums, other.tree.sums)
