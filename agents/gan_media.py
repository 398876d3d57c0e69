"""GAN media: a sample grid (images) or scatter plot (2-D points) at every evaluation, the
training-evolution GIF and a latent interpolation video at the end. Never needs a display.

    <run>/media/samples_<step>.png    G_ema on the same fixed z at every evaluation
    <run>/media/samples_<step>.txt    (level GANs) the same samples as level text the game loads
    <run>/media/evolution.gif         those PNGs in order (a resumed run's earlier ones too)
    <run>/media/interpolation.mp4     G_ema walking through latent space (slerp); also to W&B

The hook works with any learner that has `media_samples()` (a dict with "images" (N, C, H, W)
in [-1, 1] and "nrow", or "points" (N, 2), "modes" and "std") and `interpolation()` (frames
(T, rows, ...)); agents/gan.py has both. It draws from fixed latents only, so media never
change training (or a resumed run). A failure is one warning, never a stopped run.

    add_gan_media_hook(trainer, learner, run_dir, loggers)   # lab/run.py
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("lab")

SCATTER_SIZE = 320  # pixels of a 2-D scatter plot


# --------------------------------------------------------------------------- drawing
def image_grid(images: Any, nrow: int = 8, pad: int = 2, scale: int | None = None) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] -> one H' x W' x 3 uint8 grid, `nrow` images per row,
    upscaled (nearest) so small images stay visible."""
    x = np.asarray(images, dtype=np.float32)
    n, c, h, w = x.shape
    x = ((x.clip(-1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1)
    if c == 1:
        x = np.repeat(x, 3, axis=3)
    scale = scale or max(1, 64 // h)
    x = x.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = h * scale, w * scale
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = x[i]
    return grid


def scatter_image(points: Any, modes: Any, std: float, size: int = SCATTER_SIZE) -> np.ndarray:
    """2-D samples (black) over the mixture's modes (red circles of 3 std, PacGAN's high-quality
    radius) -> size x size x 3 uint8. The view spans the modes plus a margin."""
    p, m = np.asarray(points, dtype=np.float64), np.asarray(modes, dtype=np.float64)
    lo, hi = m.min() - 0.5 * (np.ptp(m) or 1), m.max() + 0.5 * (np.ptp(m) or 1)
    to_px = lambda v: ((v - lo) / (hi - lo) * (size - 1)).round().astype(int)
    img = np.full((size, size, 3), 255, np.uint8)
    r = max(3 * std / (hi - lo) * (size - 1), 1.5)
    w = int(np.ceil(r + 1))  # each ring is drawn in its own small window, not over the whole image
    dy, dx = np.mgrid[-w:w + 1, -w:w + 1]
    ring = np.abs(np.hypot(dx, dy) - r) < 0.8
    for cx, cy in to_px(m):
        rows, cols = (size - 1 - cy) + dy[ring], cx + dx[ring]
        inside = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
        img[rows[inside], cols[inside]] = (230, 60, 60)
    px = to_px(p)
    keep = ((px >= 0) & (px < size)).all(axis=1)
    px = px[keep]
    img[size - 1 - px[:, 1], px[:, 0]] = (0, 0, 0)
    return img


def media_frame(media: dict[str, Any]) -> np.ndarray:
    if "points" in media:
        return scatter_image(media["points"], media["modes"], media["std"])
    return image_grid(media["images"], media.get("nrow", 8))


# --------------------------------------------------------------------------- files
def write_png(frame: np.ndarray, path: Path) -> Path:
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, frame)
    return path


def write_gif(frames: list[np.ndarray], path: Path, seconds_per_frame: float = 0.5) -> Path:
    """Frames of different sizes are padded to the largest (white)."""
    import imageio.v3 as iio

    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    padded = [np.pad(f, ((0, h - f.shape[0]), (0, w - f.shape[1]), (0, 0)), constant_values=255) for f in frames]
    # the last frame lingers, so a looping GIF shows where training ended
    durations = [int(seconds_per_frame * 1000)] * (len(padded) - 1) + [2000]
    # Pillow wants a number, not a one-item list, for a single frame (a run with one evaluation)
    iio.imwrite(path, np.stack(padded), extension=".gif", duration=durations if len(durations) > 1 else durations[0],
                loop=0)
    return path


def write_video(frames: list[np.ndarray], path: Path, fps: int = 24) -> Path:
    """An H.264 mp4 (imageio-ffmpeg); frames are padded to multiples of 16 for every player."""
    import imageio.v2 as imageio

    h, w = frames[0].shape[:2]
    H, W = -(-h // 16) * 16, -(-w // 16) * 16
    with imageio.get_writer(path, fps=fps, codec="libx264", quality=8, macro_block_size=1,
                            ffmpeg_log_level="error") as writer:
        for f in frames:
            writer.append_data(np.pad(f, ((0, H - h), (0, W - w), (0, 0)), constant_values=255))
    return path


def interpolation_frames(frames: Any, media: dict[str, Any]) -> list[np.ndarray]:
    """Interpolation frames (T, rows, ...): a row of images per frame, or a scatter of the rows'
    points with their trails (the path each latent walk draws on the plane)."""
    x = np.asarray(frames, dtype=np.float32)
    if "points" in media:
        out = []
        for t in range(len(x)):
            trail = x[max(0, t - 24): t + 1].reshape(-1, x.shape[-1])
            out.append(scatter_image(np.concatenate([np.asarray(media["points"])[:500], trail]),
                                     media["modes"], media["std"]))
        return out
    return [image_grid(x[t], nrow=x.shape[1]) for t in range(len(x))]


# --------------------------------------------------------------------------- the training hook
class GANMedia:
    """Sample grid at each evaluation; evolution GIF and interpolation video when the run ends."""

    def __init__(self, learner: Any, media_dir: Path, loggers: Any = None) -> None:
        self.learner, self.media_dir, self.loggers = learner, Path(media_dir), loggers
        self.last_step: int | None = None
        self.failed = False

    def hooks(self) -> dict[str, list[Any]]:
        """The trainer hooks (GAN.hooks returns them)."""
        return {"on_tick": [self.on_tick], "on_end": [self.on_end]}

    def on_tick(self, trainer: Any) -> None:
        if trainer.last_eval.get("step") == trainer.step and self.last_step != trainer.step:
            self._safely(self.grid, trainer.step)

    def on_end(self, trainer: Any) -> None:
        if self.last_step != trainer.step:
            self._safely(self.grid, trainer.step)
        self._safely(self.evolution)
        path = self._safely(self.interpolation)
        if path is not None and self.loggers is not None:
            self.loggers.video(path, trainer.step)

    def grid(self, step: int) -> Path:
        media = self.learner.media_samples()
        path = write_png(media_frame(media), self.media_dir / f"samples_{step:09d}.png")
        if "texts" in media:  # generated levels: their text beside their picture, one level per block
            path.with_suffix(".txt").write_text("".join(f"# sample {i}\n{t}" for i, t in enumerate(media["texts"])))
        self.last_step = step
        return path

    def evolution(self) -> Path | None:
        import imageio.v3 as iio

        pngs = sorted(self.media_dir.glob("samples_*.png"))
        if not pngs:
            return None
        return write_gif([iio.imread(p)[..., :3] for p in pngs], self.media_dir / "evolution.gif")

    def interpolation(self) -> Path:
        frames = interpolation_frames(self.learner.interpolation(), self.learner.media_samples())
        return write_video(frames, self.media_dir / "interpolation.mp4")

    def _safely(self, fn: Any, *args: Any) -> Any:
        if self.failed:
            return None
        try:
            return fn(*args)
        except Exception as exc:  # media are never worth a failed run
            self.failed = True
            log.warning("GAN media failed, no more this run: %s: %s", type(exc).__name__, exc)
            return None

