"""Pixel rendering: the game's own simple sprites, drawn NES-sized (240x256) or resampled.

The static level is drawn once per level into `bg[width_px, rows_out, channels]`
(x-major, so the camera's view is one contiguous slice); each frame copies that slice,
redraws only tiles that changed in this game (collected coins, used blocks), then the
enemies and the player. The view shows world pixel rows 16..255 (the level's top tile
row is above the NES's 240-line screen).

Any output size works by nearest-neighbour sampling on a fixed world grid: output
column j of a W-wide picture shows world column (gcam + j) * 256 // W, where gcam is the
camera rounded to that grid. The background is pre-rendered on the grid once, so each
frame's background is one contiguous copy per row even at 84x84 (the camera then moves
in steps of 256/W pixels: at most 1.5 px off for 84 wide, exact at full size).

    r = Renderer(level, height=84, width=84, grayscale=True); r.draw(out, P, E, T)
"""

from __future__ import annotations

import numpy as np

from envs.mario._jit import njit
from envs.mario.engine import ACTIVE, EKIND, ESTATE, EVX, EX, EY, PBIG, PCAM, PFACING, PINV, PX, PY, SHIFT
from envs.mario.level import (
    BLOCK, BRICK, BRICK_COIN, BRICK_MUSHROOM, COIN, EMPTY, GOOMBA, GROUND, KOOPA, MUSHROOM, NUM_TILES, PIPE,
    PLATFORM, PLATFORM_BG, QUESTION, QUESTION_MUSHROOM, RED_KOOPA, SHELL, SPINY, USED, Level,
)

SCREEN_H, SCREEN_W = 240, 256
VIEW_TOP = 16  # world pixel row shown at the top of the screen

# Palette (NES-like RGB). Named so tests and users can look colours up.
COLORS: dict[str, tuple[int, int, int]] = {
    "sky": (92, 148, 252),
    "ground": (200, 76, 12),
    "ground_light": (252, 188, 176),
    "outline": (0, 0, 0),
    "block": (156, 100, 60),
    "question": (252, 160, 68),
    "used": (120, 64, 32),
    "coin": (252, 216, 60),
    "pipe": (0, 168, 0),
    "pipe_light": (128, 208, 16),
    "platform": (252, 152, 56),
    "pole": (168, 228, 0),
    "flag": (252, 252, 252),
    "player": (216, 40, 0),
    "skin": (252, 188, 140),
    "hair": (100, 60, 0),
    "goomba": (110, 30, 10),
    "goomba_face": (240, 208, 176),
    "koopa": (40, 140, 240),
    "koopa_skin": (252, 220, 120),
    "spiny": (228, 0, 140),
    "mushroom": (228, 60, 20),
    "mushroom_spot": (252, 252, 252),
}

# Render-tile ids: the game's tile ids, then pieces that only exist in pictures.
PIPE_TL, PIPE_TR, PIPE_BL, PIPE_BR, POLE, POLE_TOP, FLAG_CLOTH = range(NUM_TILES, NUM_TILES + 7)
NUM_ART = NUM_TILES + 7


def _img(rows: list[str], key: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """ASCII art -> (RGB uint8 [h,w,3], mask bool [h,w]); '.' is transparent."""
    h, w = len(rows), len(rows[0])
    rgb = np.zeros((h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), dtype=np.bool_)
    for y, row in enumerate(rows):
        for x, ch in enumerate(row):
            if ch != ".":
                rgb[y, x] = COLORS[key[ch]]
                mask[y, x] = True
    return rgb, mask


PLAYER_ART = _img([
    ".....RRRRR......",
    "....RRRRRRRRR...",
    "....HHHSSHS.....",
    "...HSHSSSHSSS...",
    "...HSHHSSSHSSS..",
    "...HHSSSSHHHH...",
    ".....SSSSSSS....",
    "....RRRRRRR.....",
    "...RRRRRRRRRR...",
    "..RRRRRRRRRRRR..",
    "..SSRRRRRRRRSS..",
    "..SSSRRRRRRSSS..",
    "..SSRRRRRRRRSS..",
    "....RRR..RRR....",
    "...HHH....HHH...",
    "..HHHH....HHHH..",
], {"R": "player", "H": "hair", "S": "skin"})

GOOMBA_ART = _img([
    "......GGGG......",
    ".....GGGGGG.....",
    "....GGGGGGGG....",
    "...GGGGGGGGGG...",
    "..GFFGGGGGGFFG..",
    ".GGGOFGGGGFOGGG.",
    ".GGGOFFFFFFOGGG.",
    "GGGGOFFGGFFOGGGG",
    "GGGGFFFGGFFFGGGG",
    "GGGGGGGGGGGGGGGG",
    ".GGGGFFFFFFGGGG.",
    "....FFFFFFFF....",
    "...FFFFFFFFFF...",
    "..OOFFFFFFFFOO..",
    ".OOOOOFFFOOOOO..",
    ".OOOOOO..OOOOO..",
], {"G": "goomba", "F": "goomba_face", "O": "outline"})

KOOPA_ART = _img([
    "...........KK...",
    "..........KKKK..",
    ".........KKOKK..",
    ".........KKOKK..",
    ".........KKKKK..",
    "..........KKKK..",
    "..........KKK...",
    ".........KKK....",
    "....GGGG.KK.....",
    "...GGFGGGKK.....",
    "..GGFGGGGFK.....",
    "..GFGGGGFGK.....",
    ".GGGGGGGGGG.....",
    ".GFGGGFGGGFG....",
    ".GGGGGGGGGGGK...",
    ".GGGGGGGGGGGK...",
    ".FFFFFFFFFFFK...",
    "..FFFFFFFFFFF...",
    "...KKK...KKK....",
    "...KKKK..KKKK...",
    "....KKK...KKK...",
    "................",
    "................",
    "................",
], {"G": "koopa", "F": "flag", "K": "koopa_skin", "O": "outline"})

SHELL_ART = _img([
    "................",
    "................",
    "................",
    "................",
    ".....GGGGGG.....",
    "...GGFGGGGFGG...",
    "..GGFGGGGGGFGG..",
    ".GGFGGGGGGGGFGG.",
    ".GFGGGGGGGGGGFG.",
    ".GGGGFGGGGFGGGG.",
    "GGGGGGGGGGGGGGGG",
    "FFFFFFFFFFFFFFFF",
    ".FFFFFFFFFFFFFF.",
    "..FFFFFFFFFFFF..",
    "................",
    "................",
], {"G": "koopa", "F": "flag"})

SPINY_ART = _img([
    "................",
    "...F...F...F....",
    "...FF.FF..FF....",
    "..SSFSSFSSF.....",
    ".SSSSSSSSSSS....",
    "FSSSSSSSSSSSS...",
    ".SSSSSSSSSSSSF..",
    "FSSSSSSSSSSSSS..",
    ".SSSSSSSSSSSSSF.",
    "SSSSSSSSSSSSSSS.",
    "SSSSSSSSSSSSSKKK",
    ".SSSSSSSSSSSKOKK",
    "..SSSSSSSSSSKKKK",
    "...KKKK..KKKKK..",
    "..KKKKK..KKKKK..",
    "................",
], {"S": "spiny", "F": "flag", "K": "koopa_skin", "O": "outline"})


MUSHROOM_ART = _img([
    "......RRRR......",
    "....RRWWRRRR....",
    "...RRWWWWRRRR...",
    "..RRRWWWWRRWWR..",
    ".RRRRRWWRRWWWWR.",
    ".RWWRRRRRRWWWWR.",
    "RWWWWRRRRRRWWRRR",
    "RWWWWRRRRRRRRRRR",
    "RRWWRRRRRRRRWWRR",
    ".RRRRRRRRRRWWWR.",
    "..OOSSSSSSSSOO..",
    "...SSSOSSOSSS...",
    "...SSSOSSOSSS...",
    "...SSSSSSSSSS...",
    "....SSSSSSSS....",
    ".....SSSSSS.....",
], {"R": "mushroom", "W": "mushroom_spot", "S": "skin", "O": "outline"})

# Big Mario: the small sprite with every row drawn twice (32 px tall, as his hitbox).
BIG_PLAYER_ART = (np.repeat(PLAYER_ART[0], 2, axis=0), np.repeat(PLAYER_ART[1], 2, axis=0))


def _tile_art() -> np.ndarray:
    """RGB art for every render-tile id [NUM_ART, 16, 16, 3] (tiles are opaque)."""
    art = np.zeros((NUM_ART, 16, 16, 3), dtype=np.uint8)
    art[:] = COLORS["sky"]
    c = {k: np.array(v, dtype=np.uint8) for k, v in COLORS.items()}

    def bevel(t: int, fill: str) -> None:
        art[t] = c[fill]
        art[t, 0, :], art[t, :, 0] = c["ground_light"], c["ground_light"]
        art[t, 15, :], art[t, :, 15] = c["outline"], c["outline"]

    bevel(GROUND, "ground")
    art[GROUND, 8, :] = c["outline"]
    bevel(BLOCK, "block")
    art[BLOCK, 4:12, 4:12] = c["ground"]
    for t in (BRICK, BRICK_COIN, BRICK_MUSHROOM):
        art[t] = c["ground"]
        art[t, [0, 7, 15], :] = c["outline"]
        art[t, 0:7, 7] = c["outline"]
        art[t, 8:15, [3, 11]] = c["outline"]
    bevel(QUESTION, "question")
    art[QUESTION, 4:6, 5:11] = c["ground"]
    art[QUESTION, 6:9, 9:11] = c["ground"]
    art[QUESTION, 9:10, 7:9] = c["ground"]
    art[QUESTION, 11:13, 7:9] = c["ground"]
    art[QUESTION_MUSHROOM] = art[QUESTION]
    bevel(USED, "used")
    art[COIN, 3:13, 5:11] = c["coin"]
    art[COIN, 5:11, 4:12] = c["coin"]
    art[COIN, 5:11, 7:9] = c["question"]
    art[PLATFORM, 0:8, :] = c["platform"]
    art[PLATFORM, 0, :] = c["outline"]
    art[PLATFORM_BG, :, 6:10] = c["ground"]
    for t, edge in ((PIPE_TL, 0), (PIPE_TR, 15), (PIPE_BL, 0), (PIPE_BR, 15)):
        art[t] = c["pipe"]
        art[t, :, edge] = c["outline"]
        art[t, :, 3:5 if edge == 0 else 8:10] = c["pipe_light"]
    art[[PIPE_TL, PIPE_TR], 0, :] = c["outline"]
    art[[PIPE_TL, PIPE_TR], 15, :] = c["outline"]
    art[PIPE] = art[PIPE_BL]
    art[POLE, :, 7:9] = c["pole"]
    art[POLE_TOP, :, 7:9] = c["pole"]
    art[POLE_TOP, 3:11, 4:12] = c["pipe"]
    art[FLAG_CLOTH, :, 7:9] = c["pole"]
    art[FLAG_CLOTH, 1:13, 0:7] = c["flag"]
    art[FLAG_CLOTH, 5:9, 1:5] = c["pipe"]
    # HIDDEN and EMPTY stay sky.
    return art


def _render_tiles(level: Level) -> np.ndarray:
    """Render-tile id per (column, row) of the static level: pipe pieces, flag pole."""
    t = level.tiles
    W = level.width
    ids = t.astype(np.int64).copy()
    for x in range(W):
        for y in range(16):
            if t[x, y] != PIPE:
                continue
            # Pipes are two tiles wide: pair columns from each run's left edge.
            run = 0
            while x - run - 1 >= 0 and t[x - run - 1, y] == PIPE:
                run += 1
            left = run % 2 == 0
            top = y == 0 or t[x, y - 1] != PIPE
            ids[x, y] = (PIPE_TL if left else PIPE_TR) if top else (PIPE_BL if left else PIPE_BR)
    if level.has_flag:
        fc, fr = level.flag
        top = max(fr - 9, 1)
        for y in range(top, fr + 1):
            if ids[fc, y] == EMPTY:
                ids[fc, y] = POLE
        ids[fc, top] = POLE_TOP
        if fc - 1 >= 0 and ids[fc - 1, top + 1] == EMPTY:
            ids[fc - 1, top + 1] = FLAG_CLOTH
    return ids


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, as OpenCV/Gymnasium's GrayscaleObservation compute it."""
    g = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(np.round(g), 0, 255).astype(np.uint8)[..., None]


class Renderer:
    """Draws games of one level at a fixed output size into [N, K, H, W, C] buffers."""

    def __init__(self, level: Level, height: int = SCREEN_H, width: int = SCREEN_W, grayscale: bool = False):
        if not (1 <= height <= SCREEN_H and 1 <= width <= SCREEN_W):
            raise ValueError(f"resolution must be within {SCREEN_H}x{SCREEN_W}, got {height}x{width}")
        self.height, self.width, self.channels = height, width, 1 if grayscale else 3
        art = _tile_art()
        conv = to_gray if grayscale else (lambda a: a)
        self.art = np.ascontiguousarray(conv(art))
        self.tile_mask = np.ones((16, 16), dtype=np.bool_)
        sprites = [PLAYER_ART, GOOMBA_ART, KOOPA_ART, SHELL_ART, SPINY_ART, MUSHROOM_ART, BIG_PLAYER_ART]
        # Pad sprites to 32 rows (big Mario is tall); drawing puts feet at the hitbox bottom.
        self.sprites = np.zeros((len(sprites), 32, 16, self.channels), dtype=np.uint8)
        self.sprite_mask = np.zeros((len(sprites), 32, 16), dtype=np.bool_)
        self.sprite_h = np.array([s[0].shape[0] for s in sprites], dtype=np.int64)
        for k, (rgb, m) in enumerate(sprites):
            self.sprites[k, : rgb.shape[0]] = conv(rgb)
            self.sprite_mask[k, : m.shape[0]] = m
        # The static background, pre-rendered once on the output grid: bg[row, gx, C].
        ids = _render_tiles(level)
        W = level.width
        full = self.art[ids.T]  # [16 rows, W cols, 16, 16, C]
        full = full.transpose(0, 2, 1, 3, 4).reshape(16 * 16, W * 16, self.channels)
        ys = VIEW_TOP + np.arange(height) * SCREEN_H // height
        n_gx = -(-W * 16 * width // SCREEN_W) + 1
        gxs = np.minimum(np.arange(n_gx) * SCREEN_W // width, W * 16 - 1)
        self.bg = np.ascontiguousarray(full[ys][:, gxs])
        self.base = np.ascontiguousarray(level.tiles)

    def draw(self, out: np.ndarray, P: np.ndarray, E: np.ndarray, T: np.ndarray, slot: int = 0,
             games: np.ndarray | None = None) -> None:
        """Draw game i into out[i, slot] (out: C-contiguous [N, K, H, W, C] uint8) for every game, or
        for the `games` (indices) that play this renderer's level."""
        n, k, h, w, c = out.shape
        if games is None:
            games = np.arange(n, dtype=np.int64)
        # The background copy works on flat rows (numba copies 1-D slices fastest).
        draw_frames(out, out.reshape(n, k, h, w * c), slot, games, P, E, T, self.base,
                    self.bg.reshape(h, -1), self.art, self.tile_mask, self.sprites,
                    self.sprite_mask, self.sprite_h)


@njit
def _blit(o, img, mask, h, wx, wy, flip, gcam):
    """Draw img[:h] with its top-left at world x `wx`, view row `wy` into o [H, W, C]."""
    H = o.shape[0]
    Wo = o.shape[1]
    w = img.shape[1]
    # Output rows ii show view row ii*240//H; the first one at or below y is ceil(y*H/240).
    i0 = max((max(wy, 0) * H + SCREEN_H - 1) // SCREEN_H, 0)
    i1 = min((min(wy + h, SCREEN_H) * H + SCREEN_H - 1) // SCREEN_H, H)
    j0 = max((wx * Wo + SCREEN_W - 1) // SCREEN_W - gcam, 0)
    j1 = min(((wx + w) * Wo + SCREEN_W - 1) // SCREEN_W - gcam, Wo)
    for ii in range(i0, i1):
        ay = ii * SCREEN_H // H - wy
        for jj in range(j0, j1):
            ax = (gcam + jj) * SCREEN_W // Wo - wx
            if flip:
                ax = w - 1 - ax
            if mask[ay, ax]:
                for ch in range(o.shape[2]):
                    o[ii, jj, ch] = img[ay, ax, ch]


@njit
def draw_frames(out, out_rows, slot, games, P, E, T, base, bg_rows, art, tile_mask, sprites, sprite_mask, sprite_h):
    H = out.shape[2]
    Wo = out.shape[3]
    C = out.shape[4]
    W = base.shape[0]
    for k in range(games.shape[0]):
        i = games[k]
        # Integer indexing keeps numba's C layout: fast, stride-free inner loops.
        o = out[i, slot]
        cam = P[i, PCAM]
        gcam = (cam * Wo + SCREEN_W // 2) // SCREEN_W
        # Background: one contiguous copy per output row.
        for ii in range(H):
            out_rows[i, slot, ii, :] = bg_rows[ii, gcam * C : (gcam + Wo) * C]
        # Tiles this game changed (coins taken, blocks used) are drawn over the background.
        c0 = cam // 16
        for c in range(c0, min(c0 + 17, W)):
            for r in range(1, 16):
                t = T[i, c, r]
                if t != base[c, r]:
                    _blit(o, art[t], tile_mask, 16, c * 16, r * 16 - VIEW_TOP, False, gcam)
        # Enemies, then the player on top.
        for e in range(E.shape[1]):
            if E[i, e, ESTATE] != ACTIVE:
                continue
            kind = E[i, e, EKIND]
            s = 1 if kind == GOOMBA else (2 if kind == KOOPA or kind == RED_KOOPA else (
                3 if kind == SHELL else (5 if kind == MUSHROOM else 4)))
            h = sprite_h[s]
            wy = (E[i, e, EY] >> SHIFT) + 16 - h - VIEW_TOP
            _blit(o, sprites[s], sprite_mask[s], h, E[i, e, EX] >> SHIFT, wy, E[i, e, EVX] > 0, gcam)
        if (P[i, PINV] // 4) % 2 == 1:  # flashing after a hit: every other 4 frames unseen
            continue
        wx = (P[i, PX] >> SHIFT) - 2
        s = 6 if P[i, PBIG] == 1 else 0
        _blit(o, sprites[s], sprite_mask[s], sprite_h[s], wx, (P[i, PY] >> SHIFT) - VIEW_TOP, P[i, PFACING] < 0,
              gcam)


_ENEMY_ART = {GOOMBA: GOOMBA_ART, KOOPA: KOOPA_ART, RED_KOOPA: KOOPA_ART, SPINY: SPINY_ART}


def level_picture(level: Level, player: bool = True) -> np.ndarray:
    """The whole level as one still picture with the game's own art: uint8 [256, width * 16, 3],
    tiles, pipes and flag as the game draws them, each enemy's sprite standing in its start cell,
    and (player=True) Mario at the start. For sample grids of generated levels."""
    art = _tile_art()
    ids = _render_tiles(level)
    W = level.width
    img = art[ids.T].transpose(0, 2, 1, 3, 4).reshape(16 * 16, W * 16, 3).copy()
    # a mushroom (not in _ENEMY_ART) waits unseen inside its block
    sprites = [(c, r, _ENEMY_ART[int(k)]) for c, r, k in level.enemies if int(k) in _ENEMY_ART]
    if player:
        sprites.append((level.start[0], level.start[1], PLAYER_ART))
    for col, row, (rgb, mask) in sprites:
        h = rgb.shape[0]
        bottom = (int(row) + 1) * 16  # feet on the cell's bottom edge
        top = max(bottom - h, 0)
        window = img[top:bottom, int(col) * 16:int(col) * 16 + 16]
        m = mask[h - (bottom - top):]
        window[m] = rgb[h - (bottom - top):][m]
    return img
