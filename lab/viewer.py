"""A pygame window that plays frames in real time (`lab.watch --live`): space pauses, q/Esc quits.
Optional: without a display or pygame, `display_problem()` says why and lab.watch writes a video."""

from __future__ import annotations

import os
import sys
from typing import Any


class Quit(Exception):
    """The viewer closed the window or pressed q/Esc."""


def display_problem() -> str | None:
    """Why no window can open here, or None."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    try:
        import lab.video  # noqa: F401  (quiet pygame's banner and audio first)
        import pygame  # noqa: F401
    except ImportError:
        return "pygame is not installed (pip install pygame-ce)"
    return None


class LiveView:
    """A pygame window playing frames in real time: space pauses, q/Esc (or closing) quits."""

    def __init__(self, fps: float, speed: float, title: str) -> None:
        import lab.video  # noqa: F401
        import pygame

        self.pg, self.fps, self.speed, self.title = pygame, fps, speed, title
        pygame.display.init()
        self.screen = None
        self.clock = pygame.time.Clock()
        self.paused = False

    def show(self, frame: Any) -> None:
        pg = self.pg
        h, w = frame.shape[:2]
        if self.screen is None or self.screen.get_size() != (w, h):
            self.screen = pg.display.set_mode((w, h))
            pg.display.set_caption(f"{self.title}  (space: pause, q: quit)")
        pg.surfarray.blit_array(self.screen, frame.swapaxes(0, 1))
        pg.display.flip()
        self._events()
        while self.paused:
            self.clock.tick(30)
            self._events()
        self.clock.tick(self.fps * self.speed)

    def _events(self) -> None:
        pg = self.pg
        for event in pg.event.get():
            if event.type == pg.QUIT or (event.type == pg.KEYDOWN and event.key in (pg.K_q, pg.K_ESCAPE)):
                raise Quit
            if event.type == pg.KEYDOWN and event.key == pg.K_SPACE:
                self.paused = not self.paused

    def close(self) -> None:
        self.pg.display.quit()
