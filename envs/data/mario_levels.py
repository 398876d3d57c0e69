"""`data=mario_levels`: windows of Mario levels for GANs that make levels (MarioGAN, Volz et al. 2018).

The corpus is a list of levels as `env.level` takes them (envs/mario/supply.py): built-in names,
level files or folders of them (the Mario AI Framework's or VGLC's notation: bring the original
Super Mario Bros levels as a folder, `data.root=DIR`), and `procedural` (`procedural_levels` of the
game's generator, seeds 0..N-1, at `difficulty`). Every level becomes a code map (envs/mario/
windows.py: 18 codes, one per tile or enemy kind) cut into `window`-column windows every `stride`
columns; a sample is a one-hot map float32 [18, 16, window] (0/1), what a generator's softmax
imitates. `judge()` scores a generator (envs/mario/level_metrics.py) beside the corpus's own split
halves and the procedural generator; `render()` draws maps with the game's art.

    source = make_dataset("mario_levels", window=32)
    x, _ = source.sample(64, torch.Generator().manual_seed(0))   # [64, 18, 16, 32]
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from envs.data.base import DataError
from envs.mario.level import LevelError
from envs.mario.windows import CODE_CHARS, NUM_CODES, decode, encode, picture, stitch, windows
from lab.core.learner import Evaluation, Source

DEFAULT_LEVELS = ("intro", "pits", "enemies", "stairs", "procedural")
REFERENCE_SEED = 1_000_000_000  # the procedural reference: seeds no corpus (0..N-1) holds


def corpus_spec(levels: Sequence[Any] | str, root: str | None, procedural_levels: int) -> list[Any]:
    """The level-set entries (env.level's notation) a corpus of `data.levels` and `data.root` holds:
    "procedural" stands for procedural_levels levels and is dropped when that is below 1."""
    spec = [levels] if isinstance(levels, str) else list(levels or [])
    if root is not None:
        spec.append(root)
    if "procedural" in spec and procedural_levels < 1:
        spec.remove("procedural")
    return spec


class LevelWindows(Source):
    """A finite set of level windows (code maps), sampled with replacement as one-hot maps."""

    kind = "levels"
    name = "mario_levels"
    num_classes = None

    def __init__(self, levels: Sequence[Any] | str = DEFAULT_LEVELS, root: str | None = None,
                 procedural_levels: int = 100, difficulty: Any = 0.5, window: int = 32, stride: int = 4,
                 eval_windows: int = 1000, eval_levels: int = 100, stitch_windows: int = 4) -> None:
        from envs.mario.supply import LevelSupply

        if window < 4 or window % 4:
            raise ValueError(f"data.window must be a multiple of 4 (the generator doubles 16 x window/4 maps), "
                             f"got {window}")
        if stride < 1:
            raise ValueError(f"data.stride must be >= 1, got {stride}")
        spec = corpus_spec(levels, root, procedural_levels)
        try:
            supply = LevelSupply(spec, train_levels=procedural_levels, difficulty=difficulty, prefetch=False)
            supply.pregenerate([k[1] for k in supply.keys if k[0] == "procedural"])
            self.level_names = [supply.data(k).level.name for k in supply.keys]
            self.level_maps = [encode(supply.data(k).level) for k in supply.keys]
        except LevelError as exc:
            raise DataError(str(exc)) from None
        per_level = [windows(m, window, stride) for m in self.level_maps]
        if not any(len(w) for w in per_level):
            widest = max(m.shape[1] for m in self.level_maps)
            raise DataError(f"data.window={window} is wider than every level of the corpus (the widest has "
                            f"{widest} columns): lower data.window")
        self.maps = np.concatenate([w for w in per_level if len(w)])  # int64 [N, 16, window]
        self.codes = torch.from_numpy(self.maps.astype(np.int64))
        self.shape = (NUM_CODES, 16, window)
        self.window, self.stride, self.difficulty = window, stride, difficulty
        self.eval_windows, self.eval_levels, self.stitch_windows = eval_windows, eval_levels, stitch_windows
        # split halves for the corpus's own reference figures: alternate levels
        self._halves = (np.concatenate([w for w in per_level[0::2] if len(w)] or [self.maps[:0]]),
                        np.concatenate([w for w in per_level[1::2] if len(w)] or [self.maps[:0]]))
        self._judge: Any = None

    def __len__(self) -> int:
        return len(self.maps)

    def __repr__(self) -> str:
        return f"LevelWindows(levels={len(self.level_maps)}, windows={len(self)}, shape={self.shape})"

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, None]:
        index = torch.randint(len(self.codes), (n,), generator=generator)
        return self.one_hot(self.codes[index]), None

    @staticmethod
    def one_hot(codes: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(codes, NUM_CODES).permute(0, 3, 1, 2).float()

    @staticmethod
    def to_codes(x: Tensor) -> np.ndarray:
        """Maps a generator made (scores per code, [n, 18, 16, w]) -> code maps (argmax) [n, 16, w]."""
        return x.argmax(dim=1).cpu().numpy().astype(np.int64)

    # --------------------------------------------------------------- judging a generator
    def judge(self, generate: Callable[[int], Tensor]) -> Evaluation:
        """Score a generator: `generate(n)` -> n maps (the same n every call gives the same maps).
        eval_windows windows, and eval_levels whole levels of stitch_windows consecutive windows."""
        from envs.mario.level_metrics import LevelJudge

        if self._judge is None:
            proc = _procedural_reference(len(self.level_maps), self.difficulty, self.window, self.stride)
            self._judge = LevelJudge(self.maps, self.level_maps, self._halves, *proc)
        k = self.stitch_windows
        maps = self.to_codes(generate(self.eval_windows + self.eval_levels * k))
        wins, parts = maps[:self.eval_windows], maps[self.eval_windows:]
        levels = [stitch(parts[i * k:(i + 1) * k]) for i in range(self.eval_levels)]
        metrics = self._judge.score(wins, levels)
        metrics.update(self._judge.reference())
        summary = (f"playable {100 * metrics['playable']:.1f}% of windows (corpus {100 * metrics['corpus_playable']:.0f}%), "
                   f"{100 * metrics.get('playable_levels', 0):.0f}% of stitched levels, novelty "
                   f"{100 * metrics['novelty']:.0f}%, tile JS {metrics['tile_js']:.3f} (corpus halves "
                   f"{metrics['corpus_tile_js']:.3f}), broken {100 * metrics['broken']:.1f}%")
        return Evaluation(metrics, score="playable", summary=summary)

    def render(self, x: Tensor, scale: int = 2) -> Tensor:
        """Maps a generator made (or one-hot maps) drawn with the game's art: float32 [n, 3, H, W]
        in [-1, 1] (every `scale`-th pixel), for sample grids and videos."""
        pics = np.stack([picture(c)[::scale, ::scale] for c in self.to_codes(x)])
        return torch.from_numpy(pics).permute(0, 3, 1, 2).float() / 127.5 - 1.0

    def texts(self, x: Tensor) -> list[str]:
        """Level text of each map, with the decoder's start (a map with no floor to start on: its
        characters as they are, no start)."""
        out = []
        for codes in self.to_codes(x):
            try:
                out.append(decode(codes))
            except LevelError:
                out.append("\n".join("".join(CODE_CHARS[c] for c in row) for row in codes.tolist()) + "\n")
        return out


def _procedural_reference(n: int, difficulty: Any, window: int, stride: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Windows and code maps of `max(n, 20)` procedural levels on seeds no corpus holds."""
    from envs.mario.supply import LevelSupply

    count = max(min(n, 100), 20)
    supply = LevelSupply("procedural", train_levels=count, level_seed=REFERENCE_SEED, difficulty=difficulty,
                         prefetch=False)
    supply.pregenerate([k[1] for k in supply.keys])
    maps = [encode(supply.data(k).level) for k in supply.keys]
    wins = np.concatenate([w for w in (windows(m, window, stride) for m in maps) if len(w)])
    return wins, maps


def load_mario_levels(**kw: Any) -> LevelWindows:
    return LevelWindows(**kw)
