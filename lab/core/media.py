"""Writing media: mp4 (H.264 through imageio's ffmpeg plugin, frame by frame), GIF from mp4, and
frame mosaics. Knows frames (H x W x 3 uint8 arrays), nothing about what drew them; never needs
a display.

    with VideoWriter(run_dir / "media" / "clip.mp4", fps=50) as video:
        video.append(frame)                    # H x W x 3 uint8; padded to a size every player takes
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any, Sequence

import numpy as np

MACRO_BLOCK = 16  # H.264 codes 16x16 blocks; yuv420p needs even sizes; 16 suits every player
MAX_WIDTH = 960  # a tiled mosaic of many streams is shrunk to fit this width (smaller encodes faster)


def pad_frame(frame: np.ndarray, block: int = MACRO_BLOCK) -> np.ndarray:
    """Pad height and width up to a multiple of `block` by repeating the edge pixels.

    Padding, unlike imageio's resize to the macro block size, keeps pixels sharp and the
    original frame intact at the top left.
    """
    h, w = frame.shape[:2]
    ph, pw = -h % block, -w % block
    if not ph and not pw:
        return frame
    return np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="edge")


def shrink(frame: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter downscale by an integer factor (PIL's reduce: fast and alias-free)."""
    if factor <= 1:
        return frame
    from PIL import Image

    return np.asarray(Image.fromarray(frame).reduce(factor))


class Tiler:
    """Frames of n streams as one mosaic (the convention of SB3's VecVideoRecorder).

    A stream that has ended (`live` False) shows its last frame, dimmed, until the others are
    done; one stream gives its frame unchanged.
    """

    def __init__(self, n: int, max_width: int = MAX_WIDTH) -> None:
        self.n, self.max_width = n, max_width
        self.cols = math.ceil(math.sqrt(n))
        self.rows = math.ceil(n / self.cols)
        self.last: list[np.ndarray | None] = [None] * n

    def __call__(self, frames: Sequence[np.ndarray], live: np.ndarray) -> np.ndarray:
        for i in np.flatnonzero(live):
            self.last[i] = frames[i]
        if self.n == 1:
            return self.last[0] if self.last[0] is not None else frames[0]
        h = max(f.shape[0] for f in frames)
        w = max(f.shape[1] for f in frames)
        factor = math.ceil(self.cols * w / self.max_width)
        th, tw = -(-h // factor), -(-w // factor)
        mosaic = np.zeros((self.rows * th, self.cols * tw, 3), dtype=np.uint8)
        for i in range(self.n):
            tile = self.last[i] if self.last[i] is not None else frames[i]
            tile = shrink(tile, factor)
            if not live[i]:
                tile = (tile * 0.35).astype(np.uint8)
            r, c = divmod(i, self.cols)
            mosaic[r * th:r * th + tile.shape[0], c * tw:c * tw + tile.shape[1]] = tile
        return mosaic


# --------------------------------------------------------------------------- files
class VideoWriter:
    """An mp4 (H.264, yuv420p) written frame by frame through imageio's ffmpeg plugin.

    ffmpeg runs in its own process, so encoding overlaps with drawing the next frames.
    """

    def __init__(self, path: Path, fps: float, *, preset: str = "veryfast", threads: int | None = None) -> None:
        import imageio.v2 as imageio

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.frames = 0
        self.size: tuple[int, int] | None = None  # (height, width) after padding
        self._writer = imageio.get_writer(
            str(self.path), format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
            macro_block_size=MACRO_BLOCK, ffmpeg_log_level="error",
            output_params=["-preset", preset, *(["-threads", str(threads)] if threads else []),
                           "-movflags", "+faststart"])

    def append(self, frame: np.ndarray) -> None:
        frame = pad_frame(np.asarray(frame, dtype=np.uint8))
        if self.size is None:
            self.size = frame.shape[:2]
        elif frame.shape[:2] != self.size:  # a video has one size: pad or crop to the first frame's
            out = np.zeros((*self.size, 3), dtype=np.uint8)
            h, w = min(self.size[0], frame.shape[0]), min(self.size[1], frame.shape[1])
            out[:h, :w] = frame[:h, :w]
            frame = out
        self._writer.append_data(frame)
        self.frames += 1

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def mp4_to_gif(mp4: Path, gif: Path, *, max_fps: float = 25, max_width: int = 480) -> Path:
    """Convert with the ffmpeg binary imageio-ffmpeg ships (palettegen: good colours, streamed).

    At most 25 fps (browsers slow GIFs with shorter frame delays down to 10 fps) and 480 px wide.
    """
    import imageio_ffmpeg

    filters = (f"fps={max_fps},scale='min({max_width},iw)':-1:flags=lanczos,"
               "split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse")
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(mp4),
                           "-vf", filters, "-loop", "0", str(gif)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {gif}: {proc.stderr.strip()[:300]}")
    return gif
