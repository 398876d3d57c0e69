"""The game rules and player physics of the Mario-like platformer, one frame at a time.

Physics follow the original Super Mario Bros. (NES) as documented by the speedrun
community ("SMB physics", jdaster64): positions and speeds are integers in 1/4096 of a
pixel (SMB's 0x01000 = 1 px/frame), so the game is exact and deterministic.

- ground: walk/run acceleration (0x98/0xE4), minimum walk speed 0x130, caps 0x1900
  (walk) and 0x2900 (run, B held), release deceleration 0xD0, skidding 0x1A0;
- jumps: initial speed and "hold A" / "released" gravities chosen by horizontal speed at
  take-off (|vx| < 0x1000: -0x4000, 0x200/0x700; < 0x2500: -0x4000, 0x1E0/0x600;
  else -0x5000, 0x280/0x900), so jumps are higher when A is held longer and when
  running; terminal velocity 0x4800 (4.5 px/frame); momentum is kept in the air;
- blocks hit from below: question/coin-brick/hidden blocks give a coin and become used
  blocks, enemies standing on a bumped block die; plain bricks only bump (small Mario);
- enemies wake up when they come within a screen of the camera, walk at 0.5 px/frame,
  reverse at walls, fall off ledges (red koopas turn back), die when stomped; a stomped
  koopa becomes a shell that a touch kicks (3 px/frame) and that kills what it hits.

Every speed is capped below a tile's size (16 px) per frame and movement is resolved one
axis at a time against the tiles, so nothing can tunnel through a solid tile.

The state of a batch of N games lives in a few numpy arrays (see `make_state`), which is
what makes the vector env fast and checkpoints exact: `P[N, NP]` player/game fields,
`E[N, NE, NEF]` enemy fields, `T[N, width, 16]` the mutable tiles, `rng[N]` uint64.

    reset_game(i, P, E, T, rng, lvl...); reward = game_frame(i, buttons, P, E, T, ...)
"""

from __future__ import annotations

import numpy as np

from envs.mario._jit import njit
from envs.mario.level import (
    BLOCK, BRICK, BRICK_COIN, BRICK_MUSHROOM, COIN, EMPTY, GOOMBA, GROUND, HIDDEN, MUSHROOM, NUM_TILES, PIPE,
    PLATFORM, QUESTION, QUESTION_MUSHROOM, RED_KOOPA, SHELL, SPINY, USED, Level,
)

SUB = 4096  # subpixel units per pixel
SHIFT = 12  # x >> SHIFT converts subpixels to pixels
SCREEN_W = 256
WORLD_H = 256  # 16 rows x 16 px; falling below this is death

# --- SMB constants (subpixels per frame, or per frame^2) ---
MIN_WALK = 0x130
WALK_ACC = 0x98
RUN_ACC = 0xE4
RELEASE_DEC = 0xD0
SKID_DEC = 0x1A0
WALK_MAX = 0x1900
RUN_MAX = 0x2900
MAX_FALL = 0x4800
STOMP_BOUNCE = 0x4000
ENEMY_SPEED = 0x800
SHELL_SPEED = 0x3000
ENEMY_GRAVITY = 0x700
ENEMY_MAX_FALL = 0x4000
CAMERA_LEAD = 112  # the camera scrolls once the player is this far into the screen
FRAMES_PER_TICK = 24  # SMB's timer counts down one unit every 24 frames (~0.4 s)

# --- Buttons (bit flags), as in NES/gym-super-mario-bros button names ---
BTN_RIGHT, BTN_LEFT, BTN_DOWN, BTN_UP, BTN_START, BTN_SELECT, BTN_B, BTN_A = 1, 2, 4, 8, 16, 32, 64, 128

# --- Player/game fields: columns of P (int64) ---
PX, PY, PVX, PVY = 0, 1, 2, 3  # hitbox top-left (subpixels) and velocity
PGROUND, PJUMPING, PHOLD_G, PFALL_G = 4, 5, 6, 7
PFACING, PPREV_BTN, PCAM, PCOINS, PSCORE = 8, 9, 10, 11, 12
PTIME, PCLOCK, PSTATUS, PSTEPS, PWALK, PKILLS = 13, 14, 15, 16, 17, 18
PWIDTH = 19  # the width in tiles of the level game i plays (games of one batch may play different levels)
PBIG, PINV = 20, 21  # 1 when Mario is big (ate a mushroom); frames of invulnerability left after a hit
NP = 22
PLAYER_W, PLAYER_H = 12, 16  # hitbox in pixels (sprite is 16x16, drawn 2 px left); big Mario: 12x32
INVULNERABLE_FRAMES = 120  # after a hit shrinks big Mario (2 s, as in SMB)
MUSHROOM_SPEED = 0x1000  # 1 px/frame

# Game status (P[:, PSTATUS]).
ALIVE, DEAD, WON, TIMEUP = 0, 1, 2, 3

# --- Enemy fields: last axis of E (int64) ---
EKIND, EX, EY, EVX, EVY, ESTATE, ETIMER, EGROUND = 0, 1, 2, 3, 4, 5, 6, 7
NEF = 8
DORMANT, ACTIVE, GONE, INSIDE = 0, 1, 2, 3  # INSIDE: a mushroom still in its block

# Tile properties, indexed by tile id (numba treats these globals as constants).
SOLID = np.zeros(NUM_TILES, dtype=np.bool_)
SOLID[[GROUND, BLOCK, BRICK, BRICK_COIN, QUESTION, USED, PIPE, QUESTION_MUSHROOM, BRICK_MUSHROOM]] = True
GIVES_COIN = np.zeros(NUM_TILES, dtype=np.bool_)
GIVES_COIN[[BRICK_COIN, QUESTION, HIDDEN]] = True


def make_state(num_envs: int, width: int, n_enemies: int) -> dict[str, np.ndarray]:
    """Zeroed state arrays for `num_envs` games of levels up to `width` tiles wide with up to
    `n_enemies` enemies (call reset_game on each). Tile columns past a game's own level width and
    enemy slots past its level's spawns are never read, so a batch can mix levels of any size."""
    return {
        "P": np.zeros((num_envs, NP), dtype=np.int64),
        "E": np.zeros((num_envs, max(n_enemies, 1), NEF), dtype=np.int64),  # numba wants a non-empty axis
        "T": np.zeros((num_envs, width, 16), dtype=np.uint8),
        "rng": np.zeros(num_envs, dtype=np.uint64),
    }


def level_arrays(level: Level) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """What the kernels need of a level: base tiles, spawns (px), start px, flag px."""
    spawns = np.zeros((max(len(level.enemies), 1), 3), dtype=np.int64)
    for k, (c, r, kind) in enumerate(level.enemies):
        spawns[k] = (c * 16, r * 16, kind)
    start_x = level.start[0] * 16 + (16 - PLAYER_W) // 2
    start_y = level.start[1] * 16
    flag_x = level.flag[0] * 16 + 6 if level.has_flag else level.width * 16 - PLAYER_W - 1
    return np.ascontiguousarray(level.tiles), spawns, start_x, start_y, flag_x


@njit
def seed_rng(rng: np.ndarray, i: int, seed: int) -> None:
    """Seed env i's xorshift64 generator (splitmix64 of the seed, never zero)."""
    z = np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    if z == np.uint64(0):
        z = np.uint64(1)
    rng[i] = z


@njit
def rand_unit(rng: np.ndarray, i: int) -> float:
    """Next uniform float in [0, 1) from env i's xorshift64* generator."""
    x = rng[i]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[i] = x
    return float((x * np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(40)) / 16777216.0


@njit
def reset_game(i, P, E, T, base, spawns, n_spawns, start_x, start_y, time_limit):
    """Put game i at the start of the level whose tiles are `base` ([width, 16]): fresh tiles,
    dormant enemies, full timer."""
    w = base.shape[0]
    T[i, :w, :] = base
    T[i, w:, :] = BLOCK  # past the level's end (never read: tile_at treats it as outside)
    P[i, :] = 0
    P[i, PWIDTH] = w
    P[i, PX] = start_x << SHIFT
    P[i, PY] = start_y << SHIFT
    P[i, PFACING] = 1
    P[i, PFALL_G] = 0x700
    P[i, PTIME] = time_limit
    P[i, PCAM] = min(max(start_x - CAMERA_LEAD, 0), max(w * 16 - SCREEN_W, 0))
    E[i, :, :] = 0
    for e in range(n_spawns):
        E[i, e, EKIND] = spawns[e, 2]
        E[i, e, EX] = spawns[e, 0] << SHIFT
        E[i, e, EY] = spawns[e, 1] << SHIFT
        E[i, e, ESTATE] = INSIDE if spawns[e, 2] == MUSHROOM else DORMANT


@njit
def tile_at(T, i, W, tx, ty):
    """Tile id at (column, row) of game i's level (W tiles wide); outside it: walls at the
    sides, sky above/below."""
    if tx < 0 or tx >= W:
        return BLOCK
    if ty < 0 or ty >= 16:
        return EMPTY
    return T[i, tx, ty]


@njit
def _bump_block(i, tx, ty, P, E, T):
    """The player's head hit tile (tx, ty) from below."""
    t = T[i, tx, ty]
    if t == QUESTION_MUSHROOM or t == BRICK_MUSHROOM:
        T[i, tx, ty] = USED
        for e in range(E.shape[1]):  # its mushroom comes out on top and walks right
            if E[i, e, EKIND] == MUSHROOM and E[i, e, ESTATE] == INSIDE and (E[i, e, EX] >> SHIFT) // 16 == tx \
                    and (E[i, e, EY] >> SHIFT) // 16 == ty - 1:
                E[i, e, ESTATE] = ACTIVE
                E[i, e, EVX] = MUSHROOM_SPEED
                break
    elif GIVES_COIN[t]:
        T[i, tx, ty] = USED
        P[i, PCOINS] += 1
        P[i, PSCORE] += 200
    elif t == BRICK and P[i, PBIG] == 1:  # big Mario breaks plain bricks
        T[i, tx, ty] = EMPTY
        P[i, PSCORE] += 50
    # Enemies standing on a bumped block are knocked out (as in SMB).
    top = ty * 16
    for e in range(E.shape[1]):
        if E[i, e, ESTATE] != ACTIVE or E[i, e, EKIND] == MUSHROOM:
            continue
        ex = E[i, e, EX] >> SHIFT
        ey = E[i, e, EY] >> SHIFT
        if ey + 16 == top and ex + 14 > tx * 16 and ex + 2 < tx * 16 + 16:
            E[i, e, ESTATE] = GONE
            P[i, PSCORE] += 100
            P[i, PKILLS] += 1


@njit
def _player_horizontal(i, btn, P):
    """SMB ground/air acceleration, skidding and friction; returns nothing, sets PVX."""
    vx = P[i, PVX]
    d = 0
    if btn & BTN_RIGHT:
        d += 1
    if btn & BTN_LEFT:
        d -= 1
    run = (btn & BTN_B) != 0
    speed = abs(vx)
    sign = 1 if vx > 0 else (-1 if vx < 0 else 0)
    if P[i, PGROUND] == 1:
        if d != 0 and (sign == 0 or sign == d):
            cap = RUN_MAX if run else WALK_MAX
            if speed < MIN_WALK:
                speed = MIN_WALK
            elif speed < cap:
                speed = min(speed + (RUN_ACC if run else WALK_ACC), cap)
            else:  # B released above walking speed: slow down to the walk cap
                speed = max(speed - RELEASE_DEC, cap)
            vx = d * speed
            P[i, PFACING] = d
        elif d != 0:  # pressing against the motion: skid
            speed = max(speed - SKID_DEC, 0)
            vx = sign * speed
        else:
            speed = max(speed - RELEASE_DEC, 0)
            vx = sign * speed
    elif d != 0:
        # In the air momentum is kept; pressing a direction accelerates, up to the run
        # cap only with B held (SMB limits air speed by the take-off speed category).
        acc = RUN_ACC if speed >= WALK_MAX else WALK_ACC
        if sign == 0 or sign == d:
            cap = RUN_MAX if run else max(WALK_MAX, speed)
            speed = min(speed + acc, cap)
            vx = d * speed
        else:
            vx = vx + d * acc
    if vx > RUN_MAX:
        vx = RUN_MAX
    elif vx < -RUN_MAX:
        vx = -RUN_MAX
    P[i, PVX] = vx


@njit
def _player_vertical(i, btn, P):
    """Jump start (on the A press edge) and gravity; sets PVY."""
    a_held = (btn & BTN_A) != 0
    a_pressed = a_held and (P[i, PPREV_BTN] & BTN_A) == 0
    speed = abs(P[i, PVX])
    # The gravity pair and jump speed depend on the horizontal speed (SMB's table).
    if speed < 0x1000:
        v0, hold_g, fall_g = 0x4000, 0x200, 0x700
    elif speed < 0x2500:
        v0, hold_g, fall_g = 0x4000, 0x1E0, 0x600
    else:
        v0, hold_g, fall_g = 0x5000, 0x280, 0x900
    if P[i, PGROUND] == 1:
        P[i, PFALL_G] = fall_g
        if a_pressed:
            P[i, PVY] = -v0
            P[i, PHOLD_G] = hold_g
            P[i, PJUMPING] = 1
            P[i, PGROUND] = 0
    vy = P[i, PVY]
    if P[i, PJUMPING] == 1 and vy < 0 and a_held:
        vy += P[i, PHOLD_G]
    else:
        vy += P[i, PFALL_G]
    if vy > MAX_FALL:
        vy = MAX_FALL
    P[i, PVY] = vy


@njit
def _move_player(i, P, E, T):
    """Move the player one axis at a time and resolve tile collisions."""
    W = P[i, PWIDTH]
    ph = PLAYER_H << P[i, PBIG]  # 16 px small, 32 px big
    # Horizontal.
    # The hitbox covers subpixels [x, x + w*SUB): its last pixel is (x + w*SUB - 1) >> SHIFT.
    x = P[i, PX] + P[i, PVX]
    px = x >> SHIFT
    r0 = (P[i, PY] >> SHIFT) // 16
    r1 = ((P[i, PY] + ph * SUB - 1) >> SHIFT) // 16
    if P[i, PVX] > 0:
        col = ((x + PLAYER_W * SUB - 1) >> SHIFT) // 16
        for r in range(r0, r1 + 1):
            if SOLID[tile_at(T, i, W, col, r)]:
                x = (col * 16 - PLAYER_W) << SHIFT
                P[i, PVX] = 0
                break
    elif P[i, PVX] < 0:
        col = px // 16
        for r in range(r0, r1 + 1):
            if SOLID[tile_at(T, i, W, col, r)]:
                x = ((col + 1) * 16) << SHIFT
                P[i, PVX] = 0
                break
    # The camera never scrolls back, so its left edge is a wall; the level end too.
    cam = P[i, PCAM]
    if (x >> SHIFT) < cam:
        x = cam << SHIFT
        if P[i, PVX] < 0:
            P[i, PVX] = 0
    if (x >> SHIFT) > W * 16 - PLAYER_W:
        x = (W * 16 - PLAYER_W) << SHIFT
        P[i, PVX] = 0
    P[i, PX] = x
    px = x >> SHIFT
    c0 = px // 16
    c1 = ((x + PLAYER_W * SUB - 1) >> SHIFT) // 16
    # Vertical.
    old_y = P[i, PY]
    old_py = old_y >> SHIFT
    y = old_y + P[i, PVY]
    py = y >> SHIFT
    P[i, PGROUND] = 0
    if P[i, PVY] >= 0:
        row = ((y + ph * SUB - 1) >> SHIFT) // 16
        for c in range(c0, c1 + 1):
            t = tile_at(T, i, W, c, row)
            # One-way platforms only hold a player who was above them.
            if SOLID[t] or (t == PLATFORM and ((old_y + ph * SUB - 1) >> SHIFT) < row * 16):
                y = (row * 16 - ph) << SHIFT
                P[i, PVY] = 0
                P[i, PGROUND] = 1
                P[i, PJUMPING] = 0
                break
    else:
        row = py // 16
        hit = -1
        # SMB bumps the block nearest the player's centre first.
        cc = (px + PLAYER_W // 2) // 16
        for k in range(2):
            c = cc if k == 0 else (c1 if cc == c0 else c0)
            t = tile_at(T, i, W, c, row)
            if SOLID[t] or (t == HIDDEN and old_py >= (row + 1) * 16):
                hit = c
                break
        if hit >= 0:
            y = ((row + 1) * 16) << SHIFT
            P[i, PVY] = 0
            P[i, PJUMPING] = 0
            if 0 <= hit < W and 0 <= row < 16:
                _bump_block(i, hit, row, P, E, T)
    P[i, PY] = y
    # Coins the player overlaps.
    py = y >> SHIFT
    for c in range(c0, c1 + 1):
        for r in range(py // 16, ((y + ph * SUB - 1) >> SHIFT) // 16 + 1):
            if tile_at(T, i, W, c, r) == COIN:
                T[i, c, r] = EMPTY
                P[i, PCOINS] += 1
                P[i, PSCORE] += 200


@njit
def _move_enemy(i, e, T, E, W):
    """Walk, fall, reverse at walls (and, for red koopas, at ledges)."""
    kind = E[i, e, EKIND]
    vy = min(E[i, e, EVY] + ENEMY_GRAVITY, ENEMY_MAX_FALL)
    y = E[i, e, EY] + vy
    ex = E[i, e, EX] >> SHIFT
    ey = y >> SHIFT
    c0 = (ex + 2) // 16
    c1 = (ex + 13) // 16
    E[i, e, EGROUND] = 0
    row = ((y + 16 * SUB - 1) >> SHIFT) // 16
    for c in range(c0, c1 + 1):
        t = tile_at(T, i, W, c, row)
        if SOLID[t] or t == PLATFORM:
            y = (row * 16 - 16) << SHIFT
            vy = 0
            E[i, e, EGROUND] = 1
            break
    E[i, e, EY] = y
    E[i, e, EVY] = vy
    ey = y >> SHIFT
    vx = E[i, e, EVX]
    if vx == 0:
        return
    x = E[i, e, EX] + vx
    ex = x >> SHIFT
    r0 = ey // 16
    r1 = (ey + 15) // 16
    col = (ex + 13) // 16 if vx > 0 else (ex + 2) // 16
    for r in range(r0, r1 + 1):
        if SOLID[tile_at(T, i, W, col, r)]:
            x = E[i, e, EX]
            vx = -vx
            break
    # Red koopas turn back rather than walk off a ledge.
    if kind == RED_KOOPA and E[i, e, EGROUND] == 1 and vx == E[i, e, EVX]:
        ahead = ((x >> SHIFT) + 15) // 16 if vx > 0 else (x >> SHIFT) // 16
        below = (ey + 16) // 16
        t = tile_at(T, i, W, ahead, below)
        if not (SOLID[t] or t == PLATFORM):
            x = E[i, e, EX]
            vx = -vx
    E[i, e, EX] = x
    E[i, e, EVX] = vx


@njit
def _overlap(px, py, ph, ex, ey):
    """Player hitbox (12 x ph at px,py) against an enemy's (12x12 at ex+2, ey+4)."""
    return px < ex + 14 and px + PLAYER_W > ex + 2 and py < ey + 16 and py + ph > ey + 4


@njit
def _enemies(i, P, E, T, vy_moving):
    """Wake, move and despawn enemies; resolve shells and player contacts. Returns death."""
    cam = P[i, PCAM]
    px = P[i, PX] >> SHIFT
    py = P[i, PY] >> SHIFT
    ph = PLAYER_H << P[i, PBIG]
    died = False
    for e in range(E.shape[1]):
        st = E[i, e, ESTATE]
        if E[i, e, EKIND] == 0 or st == GONE or st == INSIDE:
            continue
        if st == DORMANT:
            # Spawns are sorted by column: the first one still off-screen ends the scan.
            if (E[i, e, EX] >> SHIFT) > cam + SCREEN_W + 16:
                break
            E[i, e, ESTATE] = ACTIVE
            E[i, e, EVX] = -ENEMY_SPEED
        _move_enemy(i, e, T, E, P[i, PWIDTH])
        ex = E[i, e, EX] >> SHIFT
        ey = E[i, e, EY] >> SHIFT
        if ey >= WORLD_H or ex < cam - 64 or ex > cam + SCREEN_W + 96:
            E[i, e, ESTATE] = GONE
            continue
        kind = E[i, e, EKIND]
        if E[i, e, ETIMER] > 0:
            E[i, e, ETIMER] -= 1
        # A moving shell knocks out every other enemy it touches.
        if kind == SHELL and E[i, e, EVX] != 0:
            for f in range(E.shape[1]):
                if f != e and E[i, f, ESTATE] == ACTIVE and E[i, f, EKIND] != MUSHROOM:
                    fx = E[i, f, EX] >> SHIFT
                    fy = E[i, f, EY] >> SHIFT
                    if abs(fx - ex) < 12 and abs(fy - ey) < 12:
                        E[i, f, ESTATE] = GONE
                        P[i, PSCORE] += 500
                        P[i, PKILLS] += 1
        if died or not _overlap(px, py, ph, ex, ey):
            continue
        if kind == MUSHROOM:  # eaten: small Mario grows (his feet stay where they are)
            E[i, e, ESTATE] = GONE
            P[i, PSCORE] += 1000
            if P[i, PBIG] == 0:
                P[i, PBIG] = 1
                P[i, PY] -= PLAYER_H << SHIFT
                py, ph = P[i, PY] >> SHIFT, 2 * PLAYER_H
            continue
        stomp = vy_moving > 0 and py + ph <= ey + 4 + 8
        if kind == SHELL and E[i, e, EVX] == 0:
            # Touching a still shell kicks it away from the player.
            E[i, e, EVX] = SHELL_SPEED if px + PLAYER_W // 2 < ex + 8 else -SHELL_SPEED
            E[i, e, ETIMER] = 12  # grace frames so the kicker is not hit at once
            P[i, PSCORE] += 400
            if stomp:
                P[i, PVY] = -STOMP_BOUNCE
                P[i, PJUMPING] = 1
                P[i, PHOLD_G] = 0x200
        elif kind == SHELL and E[i, e, ETIMER] > 0:
            continue
        elif stomp and kind != SPINY:
            if kind == GOOMBA:
                E[i, e, ESTATE] = GONE
                P[i, PKILLS] += 1
            else:  # koopas (and moving shells) become still shells
                E[i, e, EKIND] = SHELL
                E[i, e, EVX] = 0
                E[i, e, ETIMER] = 8
            P[i, PSCORE] += 100
            # Stomping bounces; holding A makes the bounce higher, as in SMB.
            P[i, PVY] = -STOMP_BOUNCE
            P[i, PJUMPING] = 1
            P[i, PHOLD_G] = 0x200
            P[i, PGROUND] = 0
        elif P[i, PINV] > 0:  # still flashing from the last hit
            continue
        elif P[i, PBIG] == 1:  # a hit shrinks big Mario (feet stay) and makes him briefly invulnerable
            P[i, PBIG] = 0
            P[i, PY] += PLAYER_H << SHIFT
            P[i, PINV] = INVULNERABLE_FRAMES
            py, ph = P[i, PY] >> SHIFT, PLAYER_H
        else:
            died = True
    return died


@njit
def game_frame(i, btn, P, E, T, flag_x, flag_bonus):
    """Advance game i by one frame with buttons `btn`; returns the frame's reward.

    Reward (gym-super-mario-bros): x progress in pixels + clock penalty (-1 per timer
    tick) + death penalty (-15), clipped to [-15, 15]; plus `flag_bonus` on the flag.
    """
    x0 = P[i, PX]
    _player_horizontal(i, btn, P)
    _player_vertical(i, btn, P)
    vy_moving = P[i, PVY]
    _move_player(i, P, E, T)
    P[i, PPREV_BTN] = btn
    if P[i, PVX] != 0 and P[i, PGROUND] == 1:
        P[i, PWALK] += 1
    # The camera follows the player to the right only.
    W = P[i, PWIDTH]
    px = P[i, PX] >> SHIFT
    cam = min(px - CAMERA_LEAD, W * 16 - SCREEN_W)
    if cam > P[i, PCAM]:
        P[i, PCAM] = cam
    if P[i, PINV] > 0:
        P[i, PINV] -= 1
    died = _enemies(i, P, E, T, vy_moving)
    if (P[i, PY] >> SHIFT) >= WORLD_H:
        died = True
    clock = 0.0
    P[i, PCLOCK] += 1
    if P[i, PCLOCK] >= FRAMES_PER_TICK:
        P[i, PCLOCK] = 0
        P[i, PTIME] -= 1
        clock = -1.0
    reward = (P[i, PX] - x0) / SUB + clock
    if died:
        P[i, PSTATUS] = DEAD
        reward -= 15.0
    elif px + PLAYER_W >= flag_x:
        P[i, PSTATUS] = WON
        P[i, PSCORE] += 1000
    elif P[i, PTIME] <= 0:
        P[i, PSTATUS] = TIMEUP
    reward = min(max(reward, -15.0), 15.0)
    if P[i, PSTATUS] == WON:
        reward += flag_bonus
    return reward
