"""How good a set of generated levels is: the figures level-generation papers report, computed on
code maps (envs/mario/windows.py), each next to what the real corpus and the procedural generator
score so a number means something.

- playable: the share of maps the solver clears (envs/mario/solver.py: a beam search on the game
  itself), decoded with a start on the first floor at the left and the exit at the right edge;
- tile_js: Jensen-Shannon divergence (base 2, in [0, 1]) between the code histograms of two sets;
- novelty: the share of maps that differ from every map of a reference set in >= 5% of cells;
- diversity: the mean share of differing cells between two maps of the set (all pairs);
- broken: the share of maps with a structure that cannot exist: a pipe that is not whole (not two
  columns wide, with a hole, or not standing on something; a pipe cut by the map's side edge may
  be one column wide), an enemy walled in (solid tiles right and left of it), or no floor anywhere
  to start on.

    judge = LevelJudge(corpus_windows, corpus_levels)
    metrics = judge.score(generated_windows, generated_levels)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from envs.mario.windows import FIRST_ENEMY, NUM_CODES, PIPE_CODE, SOLID_CODES, start_cell, to_level

NOVELTY_CELLS = 0.05  # a map is novel when >= 5% of its cells differ from its nearest reference map


def playable(maps: Sequence[np.ndarray]) -> np.ndarray:
    """Whether the solver clears each map (bool [n])."""
    from envs.mario.solver import solve

    out = np.zeros(len(maps), dtype=bool)
    for i, codes in enumerate(maps):
        level = to_level(np.asarray(codes), name=f"map-{i}")
        # a window needs ~25 beam iterations per 32 columns; an unbeatable map would spend all 400
        out[i] = level is not None and solve(level, max_iters=max(60, 4 * level.width)) is not None
    return out


def histogram(maps: np.ndarray) -> np.ndarray:
    """The share of cells holding each code (float64 [NUM_CODES])."""
    counts = np.bincount(np.asarray(maps).ravel(), minlength=NUM_CODES).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def tile_js(a: np.ndarray, b: np.ndarray) -> float:
    """Jensen-Shannon divergence (bits) between the code histograms of two sets of maps."""
    p, q = histogram(a), histogram(b)
    m = 0.5 * (p + q)

    def kl(x: np.ndarray) -> float:
        keep = x > 0
        return float(np.sum(x[keep] * np.log2(x[keep] / m[keep])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def _flat_one_hot(maps: np.ndarray):
    import torch

    x = torch.as_tensor(np.asarray(maps).reshape(len(maps), -1))
    return torch.nn.functional.one_hot(x, NUM_CODES).reshape(len(maps), -1).float()


def nearest_distance(maps: np.ndarray, reference: np.ndarray, chunk: int = 256) -> np.ndarray:
    """For each map, the share of cells that differ from its nearest map in `reference` (same shape)."""
    cells = np.asarray(maps)[0].size
    ref = _flat_one_hot(reference)
    out = []
    for s in range(0, len(maps), chunk):
        same = _flat_one_hot(maps[s:s + chunk]) @ ref.T  # cells equal, per pair
        out.append(1.0 - same.max(dim=1).values.numpy() / cells)
    return np.concatenate(out) if out else np.zeros(0)


def novelty(maps: np.ndarray, reference: np.ndarray) -> float:
    """The share of maps at least NOVELTY_CELLS away from every reference map."""
    return float(np.mean(nearest_distance(maps, reference) >= NOVELTY_CELLS - 1e-9)) if len(maps) else 0.0


def diversity(maps: np.ndarray, most: int = 500) -> float:
    """The mean share of differing cells over all pairs of (at most `most`, the first) maps."""
    maps = np.asarray(maps)[:most]
    n = len(maps)
    if n < 2:
        return 0.0
    x = _flat_one_hot(maps)
    same = (x @ x.T).numpy()
    cells = maps[0].size
    off = ~np.eye(n, dtype=bool)
    return float(np.mean(1.0 - same[off] / cells))


def _pipe_whole(codes: np.ndarray) -> bool:
    from scipy import ndimage

    pipe = codes == PIPE_CODE
    if not pipe.any():
        return True
    labels, n = ndimage.label(pipe)  # 4-connected groups of pipe cells
    rows, cols = codes.shape
    solid = np.isin(codes, SOLID_CODES)
    for box, k in zip(ndimage.find_objects(labels), range(1, n + 1)):
        r, c = box
        part = labels[box] == k
        if not part.all():  # not a rectangle: a hole or a ragged edge
            return False
        width = c.stop - c.start
        cut = c.start == 0 or c.stop == cols  # the map's side edge cuts through it
        if width != 2 and not (cut and width == 1):
            return False
        if r.stop < rows and not solid[r.stop, c.start:c.stop].all():  # floating
            return False
    return True


def broken(maps: Sequence[np.ndarray]) -> np.ndarray:
    """Whether each map holds a structure that cannot exist (bool [n]; see the module doc)."""
    out = np.zeros(len(maps), dtype=bool)
    for i, codes in enumerate(maps):
        codes = np.asarray(codes)
        solid = np.isin(codes, SOLID_CODES)
        enemy = codes >= FIRST_ENEMY
        walled = enemy[:, 1:-1] & solid[:, :-2] & solid[:, 2:]
        out[i] = (not _pipe_whole(codes)) or bool(walled.any()) or start_cell(codes) is None
    return out


class LevelJudge:
    """Scores generated maps against a corpus; `reference()` gives the same figures for the corpus's
    split halves and for the procedural generator."""

    def __init__(self, corpus: np.ndarray, corpus_levels: Sequence[np.ndarray], halves: tuple[np.ndarray, np.ndarray],
                 procedural: np.ndarray, procedural_levels: Sequence[np.ndarray], playable_samples: int = 200):
        self.corpus, self.corpus_levels = corpus, list(corpus_levels)
        self.halves = halves
        self.procedural, self.procedural_levels = procedural, list(procedural_levels)
        self.playable_samples = playable_samples
        self._reference: dict[str, float] | None = None

    def score(self, maps: np.ndarray, levels: Sequence[np.ndarray] = ()) -> dict[str, float]:
        """The figures of generated windows `maps` [n, 16, w] (and whole levels, if given)."""
        out = {"playable": float(playable(maps).mean()), "tile_js": tile_js(maps, self.corpus),
               "novelty": novelty(maps, self.corpus), "diversity": diversity(maps),
               "broken": float(broken(maps).mean())}
        if len(levels):
            out["playable_levels"] = float(playable(levels).mean())
        return out

    def reference(self) -> dict[str, float]:
        """corpus_*: one half of the corpus's levels against the other (playable, broken and
        diversity of a sample of all corpus windows; playable_levels of the corpus levels);
        procedural_*: windows of procedural levels the corpus does not hold, against the corpus."""
        if self._reference is None:
            rng = np.random.default_rng(0)
            k = min(self.playable_samples, len(self.corpus))
            sample = self.corpus[rng.choice(len(self.corpus), k, replace=False)]
            a, b = self.halves
            proc = self.procedural[rng.choice(len(self.procedural), min(k, len(self.procedural)), replace=False)]
            self._reference = {
                "corpus_playable": float(playable(sample).mean()), "corpus_tile_js": tile_js(a, b),
                "corpus_novelty": novelty(a, b), "corpus_diversity": diversity(sample),
                "corpus_broken": float(broken(sample).mean()),
                "corpus_playable_levels": float(playable(self.corpus_levels).mean()),
                "procedural_playable": float(playable(proc).mean()), "procedural_tile_js": tile_js(proc, self.corpus),
                "procedural_novelty": novelty(proc, self.corpus), "procedural_diversity": diversity(proc),
                "procedural_broken": float(broken(proc).mean()),
                "procedural_playable_levels": float(playable(self.procedural_levels).mean()),
            }
        return self._reference
