"""Which level each game plays: one level, a fixed set of levels, or an endless stream of new ones.

A `LevelSupply` hands the vector env a level for every reset. What it supplies comes from the
env's `level` argument and `train_levels`:

    level="intro" | PATH | "procedural"     one level, every episode (train_levels=None)
    level="procedural", train_levels=N       the N procedural levels with seeds level_seed..+N-1
    level="procedural", train_levels=0       unbounded: new procedural levels keep coming (below)
    level=FOLDER                             every level file (*.txt) in the folder
    level=[intro, PATH, FOLDER, procedural]  all of those together (procedural: train_levels of them)
    level=LevelStream(...)                   unbounded: new levels from an outside process (below)

`difficulty` is a value in [0, 1] or a range [low, high]: with a range, each procedural seed gets its
own difficulty, drawn from the seed (so a seed always means the same level). For a set, every reset
draws one of its levels uniformly with the supply's own generator, seeded by the env's reset seed.
With `replay` > 0 (env.level_replay), that share of draws picks levels in proportion to how often the
agent has failed them so far (prioritized level replay, by outcome): the vector env reports each
ended episode's level and whether it reached the flag (`record`).

Unbounded levels: proving a level beatable with the solver takes ~30-100 ms, while training ends
hundreds of episodes a second, so a new level per episode is out of reach. The supply keeps a pool of
`pool` levels; each reset plays one drawn uniformly from the pool, and every `level_episodes` resets
the pool's oldest level leaves for the next one of the stream (seeds level_seed, level_seed + 1, ...).
Every level is new to the agent when it joins, and is played about `level_episodes` times in all (the
default, 64, is what one background process can keep up with while PPO trains at ~70k env steps/s
here: benchmarks/mario_levels_speed.py). The stream is generated ahead of use by that process (the
levels are known in advance, so timing never changes what is played). A set's procedural levels are
made before the first reset, in parallel processes. Generated levels are cached on disk by seed,
difficulty and the game's source ($LAB_LEVEL_CACHE, default ~/.cache/lab/mario-levels; empty: off),
so later runs on the same levels start at once. What is played depends only on the seeds: exact
resume holds.

A `LevelStream` is an unbounded stream whose levels another program makes (e.g. a level GAN:
`env.level=gan:RUN env.train_levels=0`, lab/gan_levels.py): the supply starts `command + [ROOT,
FIRST]` as its background process, writes on its stdin the last index wanted, and reads level k from
ROOT/level_<k>.txt once the process has written it (in order, each file complete when it appears).
The envs know nothing of how those levels are made; level k must depend on k alone (exact resume).

    supply = LevelSupply("procedural", train_levels=0, difficulty=(0.3, 0.7))
    supply.seed(0); data = supply.draw()            # the LevelData of the next reset
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from envs.mario.batch import LevelData
from envs.mario.level import BUILTIN_LEVELS, LEVELS_DIR, Level, LevelError, parse_level, read_level

# Procedural seeds: training draws from [0, EVAL_SEEDS); held-out evaluation levels start there.
EVAL_SEEDS = 2**31


def _game_source_hash() -> str:
    """A digest of the code that decides what a generated level is and whether it is beatable."""
    here = Path(__file__).parent
    h = hashlib.sha1()
    for name in ("generator.py", "solver.py", "engine.py", "batch.py", "level.py", "actions.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:12]


def cache_dir() -> Path | None:
    """Where generated levels are kept: $LAB_LEVEL_CACHE, else ~/.cache/lab/mario-levels (None: off)."""
    root = os.environ.get("LAB_LEVEL_CACHE")
    if root == "":
        return None
    return Path(root) if root else Path.home() / ".cache" / "lab" / "mario-levels"


def seed_difficulty(seed: int, difficulty: tuple[float, float]) -> float:
    """The difficulty of procedural seed `seed` under a range (the value itself when low == high)."""
    low, high = difficulty
    if low == high:
        return low
    u = np.random.default_rng([int(seed), 0xD1FF]).random()
    return round(low + (high - low) * u, 3)


def _cached_path(root: Path, seed: int, difficulty: float) -> Path:
    return root / _SOURCE_HASH / f"{difficulty:g}" / f"{seed}.txt"


def procedural_text(seed: int, difficulty: float, root: Path | None = None) -> str:
    """The text of procedural level (seed, difficulty), from the disk cache (`root`, default
    `cache_dir()`) when it has it; a level made here is written there."""
    from envs.mario.generator import generate_level

    root = root or cache_dir()
    path = None
    if root is not None:
        path = _cached_path(root, seed, difficulty)
        if path.is_file():
            return path.read_text()
    text = generate_level(seed=seed, difficulty=difficulty).text
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.replace(path)  # atomic: runs sharing the cache never read half a file
        except OSError:
            pass  # a read-only home: the cache is an optimisation only
    return text


def procedural_level(seed: int, difficulty: float, root: Path | None = None) -> Level:
    """Procedural level (seed, difficulty) through the disk cache (`procedural_text`)."""
    name = f"procedural-{seed}-{difficulty:g}"
    return parse_level(procedural_text(seed, difficulty, root), source=f"<{name}>", name=name)


_SOURCE_HASH = _game_source_hash()


def _prefetch_main(argv: list[str]) -> None:
    """The background process (`python -m envs.mario.supply ROOT LOW HIGH FIRST`): generate the
    stream's levels in order into the disk cache at ROOT, up to the last seed read from stdin.
    With FIRST a list of seeds (`3,17,20`): generate those and exit."""
    import sys

    root, low, high = Path(argv[0]), float(argv[1]), float(argv[2])
    if "," in argv[3] or argv[3].endswith(":"):
        for s in (int(v) for v in argv[3].rstrip(":").split(",") if v):
            procedural_text(s, seed_difficulty(s, (low, high)), root)
        return
    seed = int(argv[3])
    target = seed - 1
    for line in sys.stdin:  # each line: generate up to this seed (EOF: the env is gone)
        target = max(target, int(line))
        while seed <= target:
            procedural_text(seed, seed_difficulty(seed, (low, high)), root)
            seed += 1


@dataclass(frozen=True)
class LevelStream:
    """Levels made by an outside process, one per index: see the module docstring."""

    name: str                   # what the supply is called (checkpoints check it)
    command: tuple[str, ...]    # started as command + (ROOT, FIRST)
    root: str                   # where level_<k>.txt appear

    def path(self, k: int) -> Path:
        return Path(self.root) / f"level_{k:07d}.txt"


def level_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".txt")
    if not files:
        raise LevelError(f"{folder}: no level files (*.txt) in this folder")
    return files


def _difficulty(value: Any) -> tuple[float, float]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise LevelError(f"difficulty must be a value in [0, 1] or a range [low, high], got {list(value)}")
        low, high = float(value[0]), float(value[1])
    else:
        low = high = float(value)
    if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
        raise LevelError(f"difficulty must be within [0, 1], got {value}")
    if low > high:
        raise LevelError(f"difficulty range [{low:g}, {high:g}] has low > high")
    return low, high


class LevelSupply:
    """The levels of one vector env: `draw()` gives the next reset's level (`LevelData`)."""

    def __init__(self, level: str | Path | Level | Iterable[Any] = "intro", *, train_levels: int | None = None,
                 difficulty: Any = 0.5, level_seed: int | None = None, pool: int = 64, level_episodes: int = 64,
                 order: str = "random", replay: float = 0.0, prefetch: bool = True):
        self.difficulty = _difficulty(difficulty)
        if not 0.0 <= float(replay) <= 1.0:
            raise LevelError(f"level_replay must be in [0, 1] (the share of draws by failure rate), got {replay}")
        self.replay = float(replay)
        # level key -> [episodes ended, episodes cleared] while the level is in play (level_replay > 0)
        self._tally: dict[tuple, list[int]] = {}
        self._scores: np.ndarray | None = None  # a set's scores, from the tally (_set_scores)
        self._set_index: dict[tuple, int] = {}
        if train_levels is not None and int(train_levels) < 0:
            raise LevelError(f"train_levels must be >= 0 (0: unbounded), got {train_levels}")
        if pool < 1 or level_episodes < 1:
            raise LevelError(f"level_pool and level_episodes must be >= 1, got {pool} and {level_episodes}")
        if order not in ("random", "sequential"):
            raise LevelError(f"level order must be random or sequential, got {order!r}")
        self.order = order  # sequential: draw k plays level k of the set (evaluation: each level in turn)
        self.train_levels = None if train_levels is None else int(train_levels)
        self.first_seed = int(level_seed or 0)
        self.pool_size, self.level_episodes, self.prefetch = int(pool), int(level_episodes), prefetch
        self._cache: OrderedDict[tuple, LevelData] = OrderedDict()  # key -> LevelData (bounded: see data())
        self._held: dict[str, Level] = {}  # Level objects given directly (not from a name or a file)
        self._rng = np.random.default_rng(0)
        self._worker: Any = None  # the background process of an unbounded stream
        self._root = cache_dir()
        self._target = -1
        self._ready = False  # pregenerate() has run
        entries = list(level) if isinstance(level, (list, tuple)) else [level]
        if not entries:
            raise LevelError("env.level is an empty list: give level names, files, folders or procedural")
        self.unbounded = False
        self.stream: LevelStream | None = None  # an outside process's levels (unbounded)
        self.keys: list[tuple] = []  # the set's levels (a key says how to make each one)
        for entry in entries:
            self.keys.extend(self._expand(entry, len(entries) > 1))
        if self.stream is not None:
            self.name = f"{self.stream.name}[{self.first_seed}:]"
        elif self.unbounded:
            self.name = f"procedural[{self.first_seed}:]@{self._dname()}"
        elif len(self.keys) == 1:
            self.name = self.data(self.keys[0]).level.name
        else:
            self.name = " + ".join(self._describe(e) for e in entries)
        self._next_seed = self.first_seed  # unbounded: the stream's next level
        self._pool: deque[tuple] = deque()
        self._draws = 0

    # --- what the supply holds ----------------------------------------------------
    def _dname(self) -> str:
        low, high = self.difficulty
        return f"{low:g}" if low == high else f"[{low:g},{high:g}]"

    def _describe(self, entry: Any) -> str:
        if isinstance(entry, Level):
            return entry.name
        if str(entry) == "procedural" and self.train_levels:
            return f"procedural[{self.first_seed}:{self.first_seed + self.train_levels}]@{self._dname()}"
        return str(entry)

    def _expand(self, entry: Any, in_list: bool) -> list[tuple]:
        if isinstance(entry, LevelStream):
            if in_list:
                raise LevelError(f"a stream of levels ({entry.name}) cannot be mixed with other levels in a list")
            self.stream, self.unbounded = entry, True
            return []
        if isinstance(entry, Level):
            self._cache[("level", entry.name)] = LevelData(entry)
            self._held[entry.name] = entry
            return [("level", entry.name)]
        text = str(entry)
        if text == "procedural":
            n = self.train_levels
            if n is None:  # one procedural level: level_seed's
                return [("procedural", self.first_seed, seed_difficulty(self.first_seed, self.difficulty))]
            if n == 0:
                if in_list:
                    raise LevelError("train_levels=0 (unbounded procedural levels) cannot be mixed with other levels "
                                     "in a list; give train_levels=N for N procedural levels")
                self.unbounded = True
                return []
            if self.first_seed < EVAL_SEEDS < self.first_seed + n:
                raise LevelError(f"procedural training seeds must stay below {EVAL_SEEDS} (held-out evaluation seeds "
                                 f"start there); level_seed + train_levels = {self.first_seed + n}")
            return [("procedural", s, seed_difficulty(s, self.difficulty))
                    for s in range(self.first_seed, self.first_seed + n)]
        if text in BUILTIN_LEVELS:
            return [("file", str(LEVELS_DIR / f"{text}.txt"))]
        path = Path(text).expanduser()
        if path.is_dir():
            keys = [("file", str(p)) for p in level_files(path)]
            for key in keys:  # a broken file is named now (file, line, column), not mid-training
                self.data(key)
            return keys
        if path.is_file():
            key = ("file", str(path))
            self.data(key)
            return [key]
        raise LevelError(
            f"unknown level {text!r}: expected one of {', '.join(BUILTIN_LEVELS)}, 'procedural', the path of a "
            f"level file or of a folder of them, or a list of those"
        )

    @property
    def fixed(self) -> bool:
        """Every episode plays the same level."""
        return not self.unbounded and len(self.keys) == 1

    def data(self, key: tuple) -> LevelData:
        """The LevelData of a level key, built once (the most recent 4096 are kept)."""
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        kind = key[0]
        if kind == "file":
            level = read_level(key[1])
        elif kind == "procedural":
            level = self._procedural(key[1], key[2])
        elif kind == "stream":
            level = self._streamed(key[1])
        else:
            level = self._held[key[1]]
        data = LevelData(level)
        self._cache[key] = data
        if len(self._cache) > 4096:
            self._cache.popitem(last=False)
        return data

    def _procedural(self, seed: int, difficulty: float) -> Level:
        if self._worker is not None:
            self._await(seed, difficulty)
        return procedural_level(seed, difficulty, self._root)

    def _streamed(self, k: int) -> Level:
        """Level k of the outside stream, once its process has written it."""
        import time

        path = self.stream.path(k)
        if self._worker is None and not path.is_file():
            self._start_worker()
            self._ahead()
        while not path.is_file():
            if self._worker is None or self._worker.poll() is not None:
                raise LevelError(f"the level stream {self.stream.name} stopped before its level {k} "
                                 f"(its process: {' '.join(self.stream.command[:4])} ...)")
            time.sleep(0.005)
        return read_level(path)

    def _cache_root(self) -> Path:
        if self._root is None:  # no cache configured: a private one for this env
            import tempfile

            self._tmp = tempfile.TemporaryDirectory(prefix="lab-levels-")
            self._root = Path(self._tmp.name)
        return self._root

    def _command(self, first: str) -> list[str]:
        import sys

        low, high = self.difficulty
        return [sys.executable, "-m", "envs.mario.supply", str(self._cache_root()), repr(low), repr(high), first]

    def _subprocess_env(self) -> dict[str, str]:
        here = str(Path(__file__).parents[2])
        return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}

    def pregenerate(self, seeds: Sequence[int]) -> None:
        """Make the levels of `seeds` that the disk cache lacks, in parallel processes (one per CPU),
        before training needs them: proving levels beatable costs ~30-100 ms each."""
        import subprocess

        root = self._cache_root()
        missing = [s for s in seeds if not _cached_path(root, s, seed_difficulty(s, self.difficulty)).is_file()]
        if len(missing) < 8:
            return
        workers = max(1, min(os.cpu_count() or 1, 8, len(missing) // 8))
        procs = [subprocess.Popen(self._command(",".join(map(str, missing[k::workers])) + ","),
                                  stdin=subprocess.DEVNULL, env=self._subprocess_env()) for k in range(workers)]
        for proc in procs:
            proc.wait()

    # --- the background process (unbounded streams) ----------------------------------
    def _start_worker(self) -> None:
        """Start a process that generates the stream ahead of use into the disk cache (a plain
        subprocess: multiprocessing's spawn would re-run the user's main script)."""
        import subprocess

        start = min(k[1] for k in self._pool)
        command = ([*self.stream.command, self.stream.root, str(start)] if self.stream is not None
                   else self._command(str(start)))
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                env=self._subprocess_env())
        self._worker = proc
        self._target = start - 1

    def _ahead(self) -> None:
        """Keep the background process two pools ahead of the stream."""
        target = self._next_seed + 2 * self.pool_size
        if self._worker is not None and target > self._target:
            try:
                self._worker.stdin.write(f"{target}\n")
                self._worker.stdin.flush()
                self._target = target
            except (BrokenPipeError, OSError):
                self._worker = None

    def _await(self, seed: int, difficulty: float) -> None:
        """Wait for the background process to write `seed` (it works in order); return at once when
        it is gone or not going to (the caller then makes the level itself)."""
        import time

        path = _cached_path(self._root, seed, difficulty)
        while not path.is_file() and self._worker is not None and self._worker.poll() is None \
                and seed <= self._target:
            time.sleep(0.002)

    def close(self) -> None:
        if self._worker is not None:
            proc, self._worker = self._worker, None
            try:
                proc.stdin.close()
            except OSError:
                pass
            proc.terminate()
            proc.wait(timeout=5)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # --- drawing ----------------------------------------------------------------------
    def seed(self, seed: int) -> None:
        """Restart the supply's draws from `seed` (the env's reset seed); an unbounded stream restarts
        at its first level."""
        self._rng = np.random.default_rng([int(seed), 0x1E7E1])
        self._tally, self._scores = {}, None
        if not self.unbounded:
            self._draws = 0
        else:
            self._next_seed, self._draws = self.first_seed, 0
            self._pool = deque(self._stream_key() for _ in range(self.pool_size))

    def _stream_key(self) -> tuple:
        s = self._next_seed
        self._next_seed += 1
        if self.stream is not None:
            return ("stream", s)
        if self._next_seed >= EVAL_SEEDS:
            raise LevelError(f"the unbounded level stream reached the held-out seeds ({EVAL_SEEDS})")
        return ("procedural", s, seed_difficulty(s, self.difficulty))

    def draw(self) -> tuple[tuple, LevelData]:
        """The next reset's level: (its key, its LevelData)."""
        if not self._ready:
            self._ready = True
            if self.prefetch:  # the set's (or the first pool's) procedural levels, made in parallel now
                keys = self.keys if not self.unbounded else list(self._pool)
                self.pregenerate([k[1] for k in keys if k[0] == "procedural"])
        if self.fixed:
            key = self.keys[0]
        elif self.unbounded:
            if (self.prefetch or self.stream is not None) and self._worker is None:
                self._start_worker()
            if self._draws and self._draws % self.level_episodes == 0:
                self._tally.pop(self._pool.popleft(), None)
                self._pool.append(self._stream_key())
            self._ahead()
            self._draws += 1
            key = self._pool[self._pick(self._pool)]
        elif self.order == "sequential":
            key = self.keys[self._draws % len(self.keys)]
            self._draws += 1
        else:
            key = self.keys[self._pick(self.keys)]
        return key, self.data(key)

    def _pick(self, keys: Sequence[tuple]) -> int:
        """The index of the next level among `keys`: uniform, or with probability `replay` in
        proportion to each level's failure rate so far, (episodes not cleared + 1) / (episodes + 2), so
        levels the agent keeps failing come back more often (prioritized level replay, Jiang et al.
        2021, scored by outcome instead of value loss; a level not played yet scores 1/2)."""
        if self.replay and self._rng.random() < self.replay:
            if keys is self.keys:  # a set (up to thousands of levels): the scores kept by record()
                fails = self._set_scores()
            else:  # the unbounded stream's pool (64 levels)
                fails = np.array([_failure(self._tally.get(k)) for k in keys])
            cdf = np.cumsum(fails)
            return min(int(np.searchsorted(cdf, self._rng.random() * cdf[-1], side="right")), len(keys) - 1)
        return int(self._rng.integers(len(keys)))

    def record(self, keys: Sequence[tuple], cleared: np.ndarray) -> None:
        """Episodes that just ended on `keys`, and whether each reached the flag (level_replay's score;
        the vector env reports them only when replay is on)."""
        scores, index = self._set_scores(), self._set_index
        for key, won in zip(keys, cleared):
            t = self._tally.setdefault(key, [0, 0])
            t[0] += 1
            t[1] += bool(won)
            if key in index:
                scores[index[key]] = _failure(t)

    def _set_scores(self) -> np.ndarray:
        """Each level of the set's failure-rate score, in the order of `keys` (kept in step with the
        tally, so a draw from thousands of levels costs one cumsum)."""
        if self._scores is None:
            self._set_index = {k: i for i, k in enumerate(self.keys)}
            self._scores = np.array([_failure(self._tally.get(k)) for k in self.keys])
        return self._scores

    # --- exact checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        from lab.core.rng import generator_state

        return {"name": self.name, "rng": generator_state(self._rng), "next_seed": self._next_seed,
                "draws": self._draws, "pool": [list(k) for k in self._pool],
                "tally": [[list(k), n, won] for k, (n, won) in self._tally.items()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from lab.core.rng import numpy_generator

        if state["name"] != self.name:
            raise ValueError(f"state is for the levels {state['name']!r}; this env plays {self.name!r}")
        self._rng = numpy_generator(state["rng"])
        self._next_seed, self._draws = int(state["next_seed"]), int(state["draws"])
        self._pool = deque(_key(k) for k in state["pool"])
        self._tally = {_key(k): [int(n), int(won)] for k, n, won in state.get("tally", [])}
        self._scores = None
        if self._worker is not None:  # the background process restarts at the stream's new position
            self.close()


def heldout_sets(train: dict[str, Any], eval_levels: Any = "auto", eval_heldout_levels: int = 200,
                 eval_level_episodes: int = 20, eval_sticky_actions: float | None = None
                 ) -> list[tuple[str, dict[str, Any], int]]:
    """What evaluation plays besides the training levels: [(name, env kwargs, episodes)], one game per
    episode, each game on its own level (`level_order="sequential"`).

    `eval_levels`: "auto" ("heldout" when `train` (the env's kwargs) plays a level set, else "none"),
    "none", "heldout" (`eval_heldout_levels` procedural levels with seeds from EVAL_SEEDS on, which
    training never uses, at the training difficulty, one episode each; and each built-in level training
    does not play, `eval_level_episodes` episodes each), or levels as env.level takes them (names, files, folders, a
    list; `procedural` in it means the held-out procedural levels). A level that is also a training
    level is refused."""
    kw = {k: train[k] for k in ("level", "train_levels", "difficulty") if k in train}
    training = LevelSupply(kw.get("level", "intro"), train_levels=kw.get("train_levels"),
                           difficulty=kw.get("difficulty", 0.5), level_seed=train.get("seed"), prefetch=False)
    if eval_levels is None or eval_levels == "auto":
        eval_levels = "none" if training.fixed else "heldout"
    if eval_levels == "none":
        return []
    extra = {"level_order": "sequential"}
    if eval_sticky_actions is not None:
        extra["sticky_actions"] = eval_sticky_actions
    trained = set(training.keys)
    names = list(BUILTIN_LEVELS) + ["procedural"] if eval_levels == "heldout" else (
        list(eval_levels) if isinstance(eval_levels, (list, tuple)) else [eval_levels])
    if eval_levels == "heldout":  # the built-in levels training does not play
        names = [n for n in names if n == "procedural" or ("file", str(LEVELS_DIR / f"{n}.txt")) not in trained]
    sets: list[tuple[str, dict[str, Any], int]] = []
    for name in names:
        if str(name) == "procedural":
            sets.append(("procedural", {**extra, "level": "procedural", "train_levels": eval_heldout_levels,
                                        "seed": EVAL_SEEDS, "difficulty": kw.get("difficulty", 0.5)},
                         eval_heldout_levels))
            continue
        supply = LevelSupply(name, prefetch=False)
        for key in supply.keys:
            if key in trained:
                shown = Path(key[1]).stem if Path(key[1]).parent == LEVELS_DIR else key[1]
                raise LevelError(f"eval level {shown} is also a training level: held-out evaluation needs levels "
                                 f"training never plays")
        label = Path(str(name)).stem if str(name) not in BUILTIN_LEVELS else str(name)
        sets.append((label, {**extra, "level": str(name)}, len(supply.keys) * eval_level_episodes))
    return sets


def _failure(tally: list[int] | None) -> float:
    """A level's failure rate for level replay from its [episodes, cleared] counts, Laplace-smoothed:
    (episodes not cleared + 1) / (episodes + 2); 1/2 for a level not played yet."""
    return 0.5 if tally is None else (tally[0] - tally[1] + 1) / (tally[0] + 2)


def _key(k: Sequence[Any]) -> tuple:
    """A level key read back from a checkpoint (lists and numpy scalars become a typed tuple)."""
    kind = str(k[0])
    if kind == "procedural":
        return ("procedural", int(k[1]), float(k[2]))
    if kind == "stream":
        return ("stream", int(k[1]))
    return (kind, str(k[1]))


if __name__ == "__main__":
    import sys

    _prefetch_main(sys.argv[1:])
