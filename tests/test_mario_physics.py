"""Player physics and game rules, driven frame by frame through the engine."""

import numpy as np
import pytest

from envs.mario import engine as eng
from envs.mario.batch import LevelData
from envs.mario.level import GOOMBA, QUESTION, SHELL, USED, parse_level

SUB = eng.SUB


class Game:
    """One game of a small level, stepped frame by frame."""

    def __init__(self, extra: dict[int, str] | None = None, width: int = 60):
        rows = ["-" * width for _ in range(16)]
        rows[14] = rows[15] = "X" * width
        rows[13] = "--M" + "-" * (width - 3)
        for r, text in (extra or {}).items():
            rows[r] = text.ljust(width, "-")
        self.level = parse_level("\n".join(rows))
        self.lv = LevelData(self.level)
        s = eng.make_state(1, self.level.width, len(self.level.enemies))
        self.P, self.E, self.T = s["P"], s["E"], s["T"]
        eng.reset_game(0, self.P, self.E, self.T, self.lv.base, self.lv.spawns, self.lv.n_spawns,
                       self.lv.start_x, self.lv.start_y, 400)

    def frame(self, btn: int = 0) -> float:
        return eng.game_frame(0, btn, self.P, self.E, self.T, self.lv.flag_x, 50.0)

    def frames(self, n: int, btn: int = 0) -> None:
        for _ in range(n):
            self.frame(btn)

    @property
    def x(self) -> float:
        return self.P[0, eng.PX] / SUB

    @property
    def y(self) -> float:
        return self.P[0, eng.PY] / SUB


R, B, A = eng.BTN_RIGHT, eng.BTN_B, eng.BTN_A


def jump_height(hold: int, run_frames: int = 0) -> float:
    g = Game(width=200)
    g.frames(2)
    g.frames(run_frames, R | B)
    y0 = top = g.y
    for f in range(120):
        g.frame((A if f < hold else 0) | (R | B if run_frames else 0))
        top = min(top, g.y)
    return y0 - top


def test_jump_height_grows_with_hold_time_and_run_speed():
    heights = [jump_height(h) for h in (1, 6, 12, 40)]
    assert heights == sorted(heights) and heights[0] < 24 and heights[-1] > 56
    assert jump_height(40, run_frames=60) > jump_height(40) + 10
    assert jump_height(40) < 64 < jump_height(40, run_frames=60) < 96  # ~4 and ~5 tiles


def test_walk_and_run_speeds_follow_smb():
    g = Game(width=200)
    g.frames(2)
    g.frames(90, R)
    assert g.P[0, eng.PVX] == eng.WALK_MAX
    g.frames(90, R | B)
    assert g.P[0, eng.PVX] == eng.RUN_MAX
    g.frame(eng.BTN_LEFT)  # skid: slows down without reversing at once
    assert 0 < g.P[0, eng.PVX] < eng.RUN_MAX


def _drop_on_enemy(char: str) -> Game:
    g = Game(extra={13: "--M" + "-" * 7 + char})
    g.frames(2)
    e = g.E[0, 0]
    e[eng.ESTATE], e[eng.EVX] = eng.ACTIVE, 0
    g.P[0, eng.PX] = (10 * 16 + 2) * SUB
    g.P[0, eng.PY] = 150 * SUB
    g.P[0, eng.PGROUND] = 0
    g.E[0, 0, eng.EVX] = 0
    return g


def test_stomp_kills_a_goomba_and_bounces():
    g = _drop_on_enemy("g")
    g.E[0, 0, eng.EVX] = 0
    for _ in range(60):
        g.frame()
        if g.E[0, 0, eng.ESTATE] == eng.GONE:
            break
    assert g.E[0, 0, eng.ESTATE] == eng.GONE and g.P[0, eng.PSTATUS] == eng.ALIVE
    assert g.P[0, eng.PVY] < 0  # bounced


def test_stomped_koopa_becomes_a_shell_that_a_touch_kicks():
    g = _drop_on_enemy("k")
    for _ in range(60):
        g.frame()
        if g.E[0, 0, eng.EKIND] == SHELL:
            break
    assert g.E[0, 0, eng.EKIND] == SHELL and g.E[0, 0, eng.EVX] == 0
    for _ in range(80):  # the bounce lands back on the still shell, which kicks it
        g.frame()
        if g.E[0, 0, eng.EVX] != 0:
            break
    assert abs(g.E[0, 0, eng.EVX]) == eng.SHELL_SPEED
    assert g.P[0, eng.PSTATUS] == eng.ALIVE


def test_side_contact_with_an_enemy_costs_the_life():
    g = Game(extra={13: "--M" + "-" * 7 + "g"})
    reward = 0.0
    for _ in range(200):
        reward += g.frame(R)
        if g.P[0, eng.PSTATUS] != eng.ALIVE:
            break
    assert g.P[0, eng.PSTATUS] == eng.DEAD
    assert g.E[0, 0, eng.EKIND] == GOOMBA


def test_falling_into_a_pit_costs_the_life_with_penalty():
    rows = {14: "XXXXXX" + "-" * 10 + "X" * 44, 15: "XXXXXX" + "-" * 10 + "X" * 44}
    g = Game(extra=rows)
    rewards = []
    for _ in range(300):
        rewards.append(g.frame(R))
        if g.P[0, eng.PSTATUS] != eng.ALIVE:
            break
    assert g.P[0, eng.PSTATUS] == eng.DEAD and rewards[-1] < -13  # -15 plus this frame's progress


@pytest.mark.parametrize("vy", [eng.MAX_FALL, 40 * SUB])
def test_no_tunnelling_through_a_thin_floor_at_terminal_velocity(vy):
    g = Game(extra={6: "-" * 20 + "#"})
    g.P[0, eng.PX] = (20 * 16 + 2) * SUB
    g.P[0, eng.PY] = 0
    for _ in range(200):
        g.P[0, eng.PVY] = max(g.P[0, eng.PVY], vy) if g.P[0, eng.PGROUND] == 0 else g.P[0, eng.PVY]
        g.frame()
        assert g.y + 16 <= 6 * 16  # never inside or below the one-tile floor
    assert g.P[0, eng.PGROUND] == 1 and g.y + 16 == 6 * 16


def test_no_tunnelling_through_a_thin_wall_at_any_speed():
    g = Game(extra={13: "--M" + "-" * 17 + "#"})
    g.frames(2)
    for _ in range(300):
        g.P[0, eng.PVX] = 30 * SUB  # far above the run cap: the engine caps it
        g.frame(R | B)
        assert g.x + 12 <= 20 * 16


def test_head_bump_question_block_gives_coin_and_becomes_used():
    g = Game(extra={10: "--?"})
    g.frames(2)
    g.frames(30, A)
    assert g.T[0, 2, 10] == USED and g.P[0, eng.PCOINS] == 1
    assert g.level.tiles[2, 10] == QUESTION  # the level itself is untouched


def test_camera_scrolls_right_and_never_back():
    g = Game(width=120)
    cams = []
    for f in range(400):
        g.frame(R | B if f < 200 else eng.BTN_LEFT)
        cams.append(int(g.P[0, eng.PCAM]))
        assert g.x >= cams[-1]  # the left screen edge is a wall
    assert cams[199] > 0 and np.all(np.diff(cams) >= 0)
    assert cams[-1] == cams[260] and g.x < cams[260] + 112  # walked back left; camera stayed


# --- the mushroom power-up ---------------------------------------------------------------

def _make_big(g: Game) -> None:
    g.P[0, eng.PBIG] = 1
    g.P[0, eng.PY] -= 16 * SUB  # feet stay on the ground


def test_a_mushroom_comes_out_of_its_block_and_makes_mario_big() -> None:
    from envs.mario.level import MUSHROOM

    g = Game(extra={10: "--@"})
    mushroom = int(np.flatnonzero(g.E[0, :, eng.EKIND] == MUSHROOM)[0])
    assert g.E[0, mushroom, eng.ESTATE] == eng.INSIDE
    g.frames(8)
    for _ in range(40):  # jump straight up into the block
        g.frame(A)
        if g.E[0, mushroom, eng.ESTATE] == eng.ACTIVE:
            break
    assert g.T[0, 2, 10] == USED and g.E[0, mushroom, eng.ESTATE] == eng.ACTIVE
    assert g.E[0, mushroom, eng.EVX] > 0  # it walks right
    assert g.P[0, eng.PBIG] == 0
    for _ in range(300):  # chase it
        g.frame(R | B)
        if g.P[0, eng.PBIG]:
            break
    assert g.P[0, eng.PBIG] == 1 and g.E[0, mushroom, eng.ESTATE] == eng.GONE
    g.frames(30)
    assert g.P[0, eng.PGROUND] == 1 and g.y == 14 * 16 - 32  # standing, 32 px tall


def test_a_hit_shrinks_big_mario_who_is_then_briefly_invulnerable() -> None:
    g = Game(extra={13: "--M-----g" + "-" * 31 + "g"})
    _make_big(g)
    hit_at = None
    for f in range(400):
        g.frame(R)
        if hit_at is None and g.P[0, eng.PBIG] == 0:
            hit_at = f
            assert g.P[0, eng.PINV] == eng.INVULNERABLE_FRAMES - 1 or g.P[0, eng.PINV] == eng.INVULNERABLE_FRAMES
            assert g.P[0, eng.PSTATUS] == eng.ALIVE
        if g.P[0, eng.PSTATUS] != eng.ALIVE:
            break
    assert hit_at is not None
    # walked on through the first goomba while flashing, then the second one killed small Mario
    assert g.P[0, eng.PSTATUS] == eng.DEAD and f - hit_at > eng.INVULNERABLE_FRAMES
    small = Game(extra={13: "--M-----g"})
    for _ in range(200):
        small.frame(R)
        if small.P[0, eng.PSTATUS] != eng.ALIVE:
            break
    assert small.P[0, eng.PSTATUS] == eng.DEAD  # the same goomba kills small Mario at once


@pytest.mark.parametrize("big", [False, True])
def test_bricks_break_only_under_big_mario(big: bool) -> None:
    from envs.mario.level import BRICK, EMPTY

    g = Game(extra={10: "--B"})
    if big:
        _make_big(g)
    g.frames(8)
    for _ in range(60):
        g.frame(A)
    assert g.T[0, 2, 10] == (EMPTY if big else BRICK)
