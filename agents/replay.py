"""Experience replay for off-policy learners: frame-deduplicated storage, n-step returns and
prioritised sampling (Schaul et al. 2016, arXiv:1511.05952, proportional variant, sum tree).

Storage is one stream per env, time-major: row ``[t, i]`` holds env i's observation s_t (only
its newest frame when observations stack frames), the action a_t taken in it, the reward r_t,
and the flags of that step. Under the NEXT_STEP autoreset of the lab's vector envs the
observation that follows a step is always the next row's, even at an episode end: the reset
step's row holds the episode's true final observation (its own transition is invalid and
never sampled). So truncated episodes bootstrap from the right observation and nothing is
stored twice; a frame stack is rebuilt from the last k rows of the stream, padded at episode
starts the way the env pads (repeating the first frame, or zeros). A 1M-transition buffer of
stacked 84x84 frames takes ~7.1 GB instead of ~56 GB (obs and next obs, 4 frames each).

A transition becomes sampleable once the n rows after it are written (its n-step window is
complete) and stops being sampleable when the rows its frame stack needs start to be
overwritten. Uniform replay samples those by rejection over the rows that can hold them;
prioritised replay keeps their priorities in a sum tree (all other leaves are 0).

    buffer = ReplayBuffer(100_000, num_envs=8, obs_shape=(4,), obs_dtype=np.float32, n_step=3)
    buffer.add(obs, actions, rewards, terminated, truncated, valid)   # after every vector step
    batch = buffer.sample(64, rng, beta=0.4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


# --------------------------------------------------------------------------- n-step returns
def n_step_return(rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                  gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-step returns of windows that start at a transition, arrays [B, n].

    The window stops after the first episode end (terminated or truncated) inside it: with m
    the number of steps it keeps,

        G_t      = sum_{j<m} gamma^j r_{t+j}
        discount = gamma^m * (1 - terminated_{t+m-1})     (the bootstrap target's factor)

    so a termination does not bootstrap and a truncation bootstraps from the episode's final
    observation, s_{t+m}. Returns (G, discount, m).
    """
    done = terminated | truncated
    B, n = rewards.shape
    alive = np.ones((B, n), dtype=bool)  # step j of the window is still in the episode
    alive[:, 1:] = np.cumprod(~done[:, :-1], axis=1, dtype=np.int8).astype(bool)
    m = alive.sum(axis=1)
    powers = gamma ** np.arange(n, dtype=np.float64)
    G = (rewards * powers * alive).sum(axis=1)
    last_terminated = terminated[np.arange(B), m - 1]
    discount = gamma ** m.astype(np.float64) * (1.0 - last_terminated)
    return G.astype(np.float32), discount.astype(np.float32), m


# --------------------------------------------------------------------------- sum tree
class SumTree:
    """A binary tree over `capacity` non-negative leaf priorities: O(log n) update, total and
    proportional search, and the minimum non-zero leaf (for importance weights).

    Parents are recomputed from their children on every update (never by adding deltas), so
    the sums do not drift in float64 over millions of updates.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.size = 1 << max(capacity - 1, 0).bit_length()  # leaves, a power of two
        self.depth = self.size.bit_length() - 1
        self.sums = np.zeros(2 * self.size, dtype=np.float64)
        self.mins = np.full(2 * self.size, np.inf)  # zero leaves count as +inf here

    @staticmethod
    def nbytes_for(capacity: int) -> int:
        return 2 * (1 << max(capacity - 1, 0).bit_length()) * 8 * 2

    @property
    def total(self) -> float:
        return float(self.sums[1])

    @property
    def min(self) -> float:
        """The smallest non-zero leaf (inf when all are zero)."""
        return float(self.mins[1])

    def get(self, idx: np.ndarray) -> np.ndarray:
        return self.sums[self.size + np.asarray(idx)]

    def set(self, idx: np.ndarray, values: np.ndarray | float) -> None:
        """Set leaves `idx` to `values` (with repeated indices, the last value wins)."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), idx.shape)
        if np.any(values < 0) or not np.all(np.isfinite(values)):
            raise ValueError("priorities must be finite and >= 0")
        node, last = np.unique(self.size + idx[::-1], return_index=True)
        final = values[::-1][last]
        self.sums[node] = final
        self.mins[node] = np.where(final > 0, final, np.inf)
        for _ in range(self.depth):
            node >>= 1  # repeated parents are recomputed twice, to the same value
            self.sums[node] = self.sums[2 * node] + self.sums[2 * node + 1]
            self.mins[node] = np.minimum(self.mins[2 * node], self.mins[2 * node + 1])

    def set_range(self, start: int, values: np.ndarray) -> None:
        """Set the contiguous leaves start .. start+len(values)-1: parents are slices too."""
        lo, hi = self.size + start, self.size + start + len(values)  # [lo, hi)
        self.sums[lo:hi] = values
        self.mins[lo:hi] = np.where(values > 0, values, np.inf)
        for _ in range(self.depth):
            lo, hi = lo >> 1, ((hi - 1) >> 1) + 1
            self.sums[lo:hi] = self.sums[2 * lo:2 * hi:2] + self.sums[2 * lo + 1:2 * hi:2]
            self.mins[lo:hi] = np.minimum(self.mins[2 * lo:2 * hi:2], self.mins[2 * lo + 1:2 * hi:2])

    def find(self, u: np.ndarray) -> np.ndarray:
        """The leaves i with prefix_sum(i) <= u < prefix_sum(i) + p_i, for u in [0, total)."""
        u = np.asarray(u, dtype=np.float64).copy()
        node = np.ones(u.shape, dtype=np.int64)
        for _ in range(self.depth):
            node <<= 1
            left = self.sums[node]
            # `right > 0` guards against float rounding sending u into an empty subtree
            go_right = (u >= left) & (self.sums[node + 1] > 0)
            u -= left * go_right
            node += go_right
        return node - self.size

    def state_dict(self) -> dict[str, Any]:
        return {"sums": torch.from_numpy(self.sums), "mins": torch.from_numpy(self.mins)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums[:] = state["sums"].numpy()
        self.mins[:] = state["mins"].numpy()


# --------------------------------------------------------------------------- the buffer
@dataclass
class ReplaySample:
    """A batch of n-step transitions (numpy, CPU). `weights` are importance weights (1 when uniform)."""

    obs: np.ndarray
    actions: np.ndarray
    returns: np.ndarray      # G_t, the n-step discounted reward sum
    discounts: np.ndarray    # gamma^m (1 - terminated): the factor of max_a Q(s_{t+m}, a)
    next_obs: np.ndarray     # s_{t+m}
    weights: np.ndarray
    indices: np.ndarray      # for update_priorities


class ReplayBuffer:
    """A ring of `capacity` transitions from `num_envs` envs; see the module docstring.

    frame_stack k > 1: observations stack k frames on their leading axis; only the newest frame
    of each is stored, and `add` checks that the observations really behave like a stack.
    """

    def __init__(self, capacity: int, num_envs: int, obs_shape: tuple[int, ...], obs_dtype: Any, *,
                 action_dtype: Any = np.int64, frame_stack: int = 1, n_step: int = 1, gamma: float = 0.99,
                 prioritized: bool = False, alpha: float = 0.6, eps: float = 1e-6) -> None:
        self.num_envs, self.k, self.n, self.gamma = num_envs, frame_stack, n_step, gamma
        self.obs_shape = tuple(obs_shape)
        self.T = self.rows_for(capacity, num_envs)
        if self.T < n_step + frame_stack + 1:
            raise ValueError(f"a replay buffer of {capacity} transitions over {num_envs} envs is too small "
                             f"for n_step={n_step} and frame_stack={frame_stack}")
        self.obs_dtype = self.storage_dtype(obs_dtype)
        frame_shape = self.frame_shape(self.obs_shape, frame_stack)
        T, N = self.T, num_envs
        self.frames = np.zeros((T, N, *frame_shape), dtype=self.obs_dtype)
        self.actions = np.zeros((T, N), dtype=self.storage_action_dtype(action_dtype))
        self.rewards = np.zeros((T, N), dtype=np.float32)
        self.terminated = np.zeros((T, N), dtype=bool)
        self.truncated = np.zeros((T, N), dtype=bool)
        self.valid = np.zeros((T, N), dtype=bool)       # False: a NEXT_STEP reset step (never sampled)
        self.first = np.zeros((T, N), dtype=bool)       # the row's obs is an episode's first
        self.sampleable = np.zeros((T, N), dtype=bool)  # complete, valid, and its stack's frames still here
        self.count = 0
        self.prioritized, self.alpha, self.eps = prioritized, alpha, eps
        self.tree = SumTree(T * N) if prioritized else None
        self.max_priority = 1.0  # new transitions get the largest priority so far (already ^alpha)
        self.pos = 0             # the next row to write
        self.rows = 0            # rows written so far (all time)
        self.pad: str | None = None  # how the env pads a new episode's stack: "repeat" or "zero"
        self.after_reset = np.zeros(N, dtype=bool)
        self.last_obs: np.ndarray | None = None

    # ------------------------------------------------------------------ sizes
    @staticmethod
    def rows_for(capacity: int, num_envs: int) -> int:
        return math.ceil(capacity / num_envs)

    @staticmethod
    def storage_dtype(obs_dtype: Any) -> np.dtype:
        dtype = np.dtype(obs_dtype)
        return np.dtype(np.float32) if dtype == np.float64 else dtype

    @staticmethod
    def storage_action_dtype(action_dtype: Any) -> np.dtype:
        return np.dtype(np.int32) if np.issubdtype(np.dtype(action_dtype), np.integer) else np.dtype(np.float32)

    @staticmethod
    def frame_shape(obs_shape: tuple[int, ...], frame_stack: int) -> tuple[int, ...]:
        if frame_stack == 1:
            return tuple(obs_shape)
        if not obs_shape or obs_shape[0] != frame_stack:
            raise ValueError(f"frame_stack={frame_stack} but observations of shape {tuple(obs_shape)} "
                             f"do not stack {frame_stack} frames on their leading axis")
        return tuple(obs_shape[1:])

    @classmethod
    def nbytes_for(cls, capacity: int, num_envs: int, obs_shape: tuple[int, ...], obs_dtype: Any, *,
                   action_dtype: Any = np.int64, frame_stack: int = 1, prioritized: bool = False) -> int:
        """The bytes a buffer of these settings holds, without allocating it."""
        rows = cls.rows_for(capacity, num_envs) * num_envs
        frame = int(np.prod(cls.frame_shape(tuple(obs_shape), frame_stack))) * cls.storage_dtype(obs_dtype).itemsize
        per_row = frame + cls.storage_action_dtype(action_dtype).itemsize + 4 + 5  # action, reward, 5 flags
        return rows * per_row + (SumTree.nbytes_for(rows) if prioritized else 0)

    @property
    def nbytes(self) -> int:
        arrays = [self.frames, self.actions, self.rewards, self.terminated, self.truncated, self.valid,
                  self.first, self.sampleable]
        if self.tree is not None:
            arrays += [self.tree.sums, self.tree.mins]
        return sum(a.nbytes for a in arrays)

    @property
    def size(self) -> int:
        """Transitions that can be sampled now."""
        return self.count

    def __len__(self) -> int:
        return self.count

    # ------------------------------------------------------------------ writing
    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray,
            truncated: np.ndarray, valid: np.ndarray) -> None:
        """Store one vector step: `obs` is s_t (the observation the actions were taken in) and the
        rest is what the env returned for it; `valid` False marks NEXT_STEP reset steps."""
        obs = np.asarray(obs)
        N = self.num_envs
        if self.k > 1:
            if self.rows == 0:
                # the stream starts with the k-1 older frames of the first stack (padding or, after
                # a resume without the replay, real frames), so every stored stack is exact
                no = np.zeros(N, dtype=bool)
                for j in range(self.k - 1):
                    self._write(obs[:, j], np.zeros(N), np.zeros(N), no, no, no, no)
            else:
                self._check_stack(obs)
            self.last_obs = obs.copy()
        first = self.after_reset
        self.after_reset = ~np.asarray(valid, dtype=bool)
        self._write(obs[:, -1] if self.k > 1 else obs, actions, rewards, terminated, truncated, valid, first)

    def _write(self, frame: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray,
               truncated: np.ndarray, valid: np.ndarray, first: np.ndarray) -> None:
        p, T = self.pos, self.T
        self._mark(p, None)  # the oldest row is overwritten
        self.frames[p] = frame
        self.actions[p] = actions
        self.rewards[p] = rewards
        self.terminated[p] = terminated
        self.truncated[p] = truncated
        self.valid[p] = valid
        self.first[p] = first
        self.pos = (p + 1) % T
        self.rows += 1
        if self.rows >= T:
            # the k-1 oldest rows now only serve as the older frames of later stacks
            for j in range(1, self.k):
                self._mark((p + j) % T, None)
        if self.rows > self.n:
            # row p - n now has its whole n-step window (rows p-n .. p)
            c = (p - self.n) % T
            self._mark(c, self.valid[c])

    def _mark(self, t: int, mask: np.ndarray | None) -> None:
        """Make row t's transitions sampleable where `mask` (None: none of them)."""
        old = self.sampleable[t]
        if mask is None:
            if not old.any():
                return
            mask = np.zeros_like(old)
        self.count += int(mask.sum()) - int(old.sum())
        self.sampleable[t] = mask
        if self.tree is not None:
            self.tree.set_range(t * self.num_envs, np.where(mask, self.max_priority, 0.0))

    def _check_stack(self, obs: np.ndarray) -> None:
        cont = ~self.after_reset
        if cont.any() and not np.array_equal(obs[cont, :-1], self.last_obs[cont, 1:]):
            raise ValueError(f"observations do not behave like a stack of {self.k} frames on their leading "
                             "axis (the older frames of a stack differ from the previous step's newer ones); "
                             "set the agent's frame_stack to 1 for this env")
        for i in np.flatnonzero(self.after_reset):
            older, newest = obs[i, :-1], obs[i, -1]
            repeat = bool((older == newest).all())
            zero = not older.any()
            mode = "repeat" if repeat and not zero else "zero" if zero and not repeat else None
            if not (repeat or zero) or (mode and self.pad and mode != self.pad):
                raise ValueError("a new episode's frame stack is padded neither by repeating its first frame "
                                 "nor with zeros (consistently); the replay cannot rebuild it from single frames")
            self.pad = self.pad or mode

    # ------------------------------------------------------------------ sampling
    def _stack(self, t: np.ndarray, env: np.ndarray) -> np.ndarray:
        """Observations s_t of rows (t, env), frame stacks rebuilt from the stream."""
        if self.k == 1:
            return self.frames[t, env]
        k = self.k
        rows = (t[:, None] - (k - 1) + np.arange(k)) % self.T            # [B, k], oldest first
        first = self.first[rows, env[:, None]]
        first[:, 0] = False
        # the episode began at the last `first` row in the window: older slots are padding
        start = np.where(first.any(1), k - 1 - np.argmax(first[:, ::-1], axis=1), 0)
        j = np.maximum(np.arange(k)[None, :], start[:, None])
        out = self.frames[np.take_along_axis(rows, j, axis=1), env[:, None]]
        if self.pad == "zero":
            out[np.arange(k)[None, :] < start[:, None]] = 0
        return out

    def _uniform(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Flat indices t * N + env, uniform over the sampleable transitions (rejection sampling
        over the rows that can hold them; nearly all can, so this is a handful of numpy ops)."""
        N, held = self.num_envs, min(self.rows, self.T)
        oldest = (self.pos - held) % self.T
        span = (held - self.n) * N  # the newest n rows are never complete
        out = np.empty(batch_size, dtype=np.int64)
        todo = np.arange(batch_size)
        while todo.size:
            off = rng.integers(span, size=todo.size)
            idx = ((oldest + off // N) % self.T) * N + off % N
            ok = self.sampleable.reshape(-1)[idx]
            out[todo[ok]] = idx[ok]
            todo = todo[~ok]
        return out

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 1.0) -> ReplaySample:
        """`batch_size` transitions drawn with probability p_i / sum p (uniform: 1 / size), with
        importance weights (p_min / p_i)^beta = (N P(i))^-beta / max_j (N P(j))^-beta."""
        if self.count == 0:
            raise ValueError("the replay buffer holds no complete transition yet")
        if self.tree is not None:
            leaf = self.tree.find(rng.random(batch_size) * self.tree.total)
            weights = (self.tree.min / self.tree.get(leaf)) ** beta
        else:
            leaf = self._uniform(batch_size, rng)
            weights = np.ones(batch_size)
        t, env = np.divmod(leaf, self.num_envs)
        window = (t[:, None] + np.arange(self.n)) % self.T
        G, discount, m = n_step_return(self.rewards[window, env[:, None]], self.terminated[window, env[:, None]],
                                       self.truncated[window, env[:, None]], self.gamma)
        return ReplaySample(obs=self._stack(t, env), actions=self.actions[t, env], returns=G, discounts=discount,
                            next_obs=self._stack((t + m) % self.T, env), weights=weights.astype(np.float32),
                            indices=leaf)

    def probabilities(self, indices: np.ndarray) -> np.ndarray:
        """P(i), the chance that one draw picks transition i: p_i / sum_k p_k (uniform: 1 / size)."""
        if self.tree is None:
            return self.sampleable.reshape(-1)[indices] / self.count
        return self.tree.get(indices) / self.tree.total

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """p_i = (|delta_i| + eps)^alpha for the transitions just learned from."""
        assert self.tree is not None, "update_priorities needs prioritized=True"
        p = (np.abs(np.asarray(td_errors, dtype=np.float64)) + self.eps) ** self.alpha
        self.tree.set(indices, p)
        self.max_priority = max(self.max_priority, float(p.max()))

    # ------------------------------------------------------------------ checkpoints
    _ARRAYS = ("frames", "actions", "rewards", "terminated", "truncated", "valid", "first", "sampleable")

    def state_dict(self) -> dict[str, Any]:
        # torch.from_numpy shares memory: torch.save writes it at once, without a second copy
        state: dict[str, Any] = {name: torch.from_numpy(getattr(self, name)) for name in self._ARRAYS}
        state.update(tree=self.tree.state_dict() if self.tree is not None else None, count=self.count,
                     max_priority=self.max_priority, pos=self.pos, rows=self.rows, pad=self.pad,
                     after_reset=torch.from_numpy(self.after_reset.copy()),
                     last_obs=torch.from_numpy(self.last_obs.copy()) if self.last_obs is not None else None)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self._ARRAYS:
            target = getattr(self, name)
            if tuple(state[name].shape) != target.shape:
                raise ValueError(f"saved replay '{name}' has shape {tuple(state[name].shape)}, not {target.shape}")
            target[:] = state[name].numpy()
        if self.tree is not None:
            self.tree.load_state_dict(state["tree"])
        self.count, self.max_priority = int(state["count"]), float(state["max_priority"])
        self.pos, self.rows, self.pad = int(state["pos"]), int(state["rows"]), state["pad"]
        self.after_reset = state["after_reset"].numpy().copy()
        self.last_obs = state["last_obs"].numpy().copy() if state["last_obs"] is not None else None
