"""Watch a trained agent play: rebuild a run from its saved config, load a checkpoint, play
evaluation episodes, print their returns and write a video (never needs a display).

    python -m lab.watch runs/2026-01-02/10-00-00_ppo_cartpole     # best.pt, the run's eval seeds
    python -m lab.watch latest --checkpoint last --episodes 3 --gif
    python -m lab.watch latest --live --speed 2                    # a window; space pauses, q quits

The episodes are RLSource.evaluate's, played by `learner.evaluate` (the learner's own evaluation
policy): the same seeds (`seed + 10_000`) and per-env episode quotas as the run's own
evaluations, so with the default arguments the
returns equal the evaluation that produced the checkpoint (best.pt: the best evaluation;
last.pt: the final one). The video tiles the evaluation envs side by side (one env: full size).
A learner without `act` (a GAN) has no episodes to play; its media will plug in at `watch()`.
"""

from __future__ import annotations

import os

# Same numerics as `python -m lab` (a multi-threaded BLAS may sum in another order): before numpy.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.core.errors import LabError

# Per-episode info shown as extra columns, read from the step that ended the episode.
INFO_COLUMNS: dict[str, tuple[str, ...]] = {"lab/Mario-v0": ("flag_get", "x_pos")}


@dataclass
class Run:
    """What a RUN argument names: a checkpoint, its state, the config that built it."""

    checkpoint: Path
    state: dict[str, Any]
    cfg: Any  # the typed DictConfig
    run_dir: Path | None
    media_dir: Path


@dataclass
class Episode:
    env: int
    ret: float
    length: int
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- finding the run
def find_latest(runs_dir: Path) -> Path:
    """The most recently started run under `runs_dir` that has a checkpoint."""
    runs = [cfg.parent.parent for cfg in Path(runs_dir).glob("**/.hydra/config.yaml")
            if list((cfg.parent.parent / "checkpoints").glob("*.pt"))]
    if not runs:
        raise LabError(f"latest: no run with a checkpoint under {runs_dir}/ (use --runs-dir DIR)")
    return max(runs, key=lambda r: (r / ".hydra" / "config.yaml").stat().st_mtime)


def resolve(run: str, checkpoint: str | None, runs_dir: Path) -> tuple[Path, Path | None]:
    """(checkpoint file, run directory or None) for RUN and --checkpoint."""
    path = find_latest(runs_dir) if run == "latest" else Path(run)
    if not path.exists():
        raise LabError(f"no run at {path}: it does not exist (give a run directory, a checkpoint .pt file or latest)")
    if path.is_file():
        if checkpoint not in (None, "best", "last"):
            raise LabError("give the checkpoint either as RUN or as --checkpoint, not both")
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
        return path, run_dir if run_dir is not None and (run_dir / ".hydra").is_dir() else None
    if not (path / ".hydra").is_dir() and not (path / "checkpoints").is_dir():
        raise LabError(f"{path} is not a run directory (no .hydra/ or checkpoints/ in it)")
    ckpts = path / "checkpoints"
    if checkpoint in (None, "best", "last"):
        name = checkpoint or "best"
        file = ckpts / f"{name}.pt"
        if not file.is_file() and checkpoint is None and (ckpts / "last.pt").is_file():
            print(f"lab.watch: {path} has no best.pt (no evaluation yet); using last.pt", file=sys.stderr)
            file = ckpts / "last.pt"
        if not file.is_file():
            have = sorted(p.name for p in ckpts.glob("*.pt")) if ckpts.is_dir() else []
            if not have:
                raise LabError(f"{path} has no checkpoint: {ckpts} holds no .pt file (not trained far enough?)")
            raise LabError(f"{path} has no checkpoints/{file.name}; it has {', '.join(have)} "
                           f"(--checkpoint last|best|PATH)")
        return file, path
    file = Path(checkpoint)
    if not file.is_file():
        raise LabError(f"--checkpoint {checkpoint}: no such checkpoint file")
    return file, path


def typed_config(text: str, where: str) -> Any:
    """The saved (plain yaml) config, typed again by the schemas, as Hydra composed it."""
    from omegaconf import OmegaConf

    from envs.config import ENV_SCHEMAS
    from lab.config import LabConfig, learner_schema

    from envs.data_config import DataConfig

    registries: dict[str, dict[str, Any]] = {"env": ENV_SCHEMAS}
    from lab.safety import check_config

    try:
        saved = OmegaConf.create(text)
    except Exception as exc:
        raise LabError(f"the config in {where} is not valid YAML: {str(exc).strip().splitlines()[0]}") from None
    check_config(saved, where)  # nothing it names is imported unless the lab trusts it
    from lab.config import migrate

    saved = migrate(saved)
    try:
        sections = {}
        agent = saved.get("agent")
        if agent:  # typed by the schema of the learner module it names (lab.safety vetted the name)
            module = agent.get("learner")
            if not isinstance(module, str):
                raise LabError(f"the config in {where} names no learner module (agent.learner)")
            sections["agent"] = OmegaConf.merge(OmegaConf.structured(learner_schema(module)), agent)
        if saved.get("data"):  # every dataset has the one schema (its name is the dataset's)
            sections["data"] = OmegaConf.merge(OmegaConf.structured(DataConfig), saved.data)
        for key, schemas in registries.items():
            node = saved.get(key)
            if not node:
                continue
            name = node.get("name")
            if name not in schemas:
                raise LabError(f"the config in {where} has {key}.name={name}, which this lab does not know "
                               f"(known: {', '.join(sorted(schemas))})")
            sections[key] = OmegaConf.merge(OmegaConf.structured(schemas[name]), node)
        cfg = OmegaConf.merge(OmegaConf.structured(LabConfig),
                              {k: v for k, v in saved.items() if k not in sections})
        for key, node in sections.items():
            cfg[key] = node
    except LabError:
        raise
    except Exception as exc:  # a key this version of the lab no longer has, a wrong type
        raise LabError(f"the config in {where} does not fit this version of the lab: "
                       f"{str(exc).strip().splitlines()[0]}") from None
    return cfg


def open_run(run: str, checkpoint: str | None = None, runs_dir: Path = Path("runs")) -> Run:
    from lab.core import checkpoint as ckpt

    file, run_dir = resolve(run, checkpoint, runs_dir)
    state = ckpt.load(file)
    saved = run_dir / ".hydra" / "config.yaml" if run_dir is not None else None
    if saved is not None and saved.is_file():
        cfg = typed_config(saved.read_text(), str(saved))
    elif state.get("config"):
        cfg = typed_config(state["config"], str(file))
    else:
        raise LabError(f"no config for {file}: {saved or 'its run directory'} is missing and the checkpoint stores none")
    if "learner" not in state:
        raise LabError(f"checkpoint {file} holds no learner state")
    media = (run_dir if run_dir is not None else file.parent) / "media"
    return Run(file, state, cfg, run_dir, media)


def rebuild(run: Run, device: str | None = None) -> tuple[Any, Any, Any]:
    """(source, learner, device) as lab.run builds them, with the checkpoint's weights loaded."""
    from envs import EnvError
    from lab.run import build_learner, build_source
    from lab.core.runtime import configure, select_device

    cfg = run.cfg
    configure(cfg.seed, cfg.trainer.threads, False)
    dev = select_device(device or cfg.trainer.device)
    try:
        source = build_source(cfg)
        learner = build_learner(cfg, source, dev)
    except (EnvError, ValueError) as exc:
        raise LabError(str(exc)) from None
    try:
        learner.load_state_dict(run.state["learner"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        source.close()
        raise LabError(f"checkpoint {run.checkpoint} does not match its config "
                       f"(agent={cfg.agent.name}): {_mismatch(exc)}") from None
    return source, learner, dev


def _mismatch(exc: Exception) -> str:
    """torch's multi-line load_state_dict error as one short line."""
    if isinstance(exc, KeyError):
        return f"missing from the checkpoint: {exc.args[0] if exc.args else '?'}"
    text = str(exc)
    parts = [f"{name} is {_shape(a)} in the checkpoint but {_shape(b)} in the config" for name, a, b in re.findall(
        r"size mismatch for ([\w.]+): copying a param with shape torch\.Size\((\[[^\]]*\])\) from checkpoint, "
        r"the shape in current model is torch\.Size\((\[[^\]]*\])\)", text)]
    for kind, label in (("Missing", "missing from the checkpoint"), ("Unexpected", "not in the config's model")):
        m = re.search(kind + r" key\(s\) in state_dict: (.*)$", text, re.M)
        keys = re.findall(r'"([^"]+)"', m.group(1)) if m else []
        if keys:
            parts.append(f"{label}: {', '.join(keys[:3])}" + (f" and {len(keys) - 3} more" if len(keys) > 3 else ""))
    if not parts:
        lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
        parts = [(lines[-1] if lines else "") or type(exc).__name__]
    shown = "; ".join(parts[:3]) + (f"; and {len(parts) - 3} more differences" if len(parts) > 3 else "")
    return shown


def _shape(text: str) -> str:
    return text.replace(" ", "")


# --------------------------------------------------------------------------- playing
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


def _info_at(info: dict[str, Any], i: int, keys: tuple[str, ...]) -> dict[str, Any]:
    """Sub-env i's values in a vector env's info dict (masked by `_key` where Gymnasium sets one)."""
    out: dict[str, Any] = {}
    for key in keys:
        if key in info and info.get(f"_{key}", [True] * (i + 1))[i]:
            value = info[key][i]
            out[key] = value.item() if hasattr(value, "item") else value
    return out


def play(run: Run, source: Any, learner: Any, device: Any, *, episodes: int, seed: int | None,
         deterministic: bool, video: Path | None, live: LiveView | None) -> tuple[list[Episode], dict, int]:
    """Play `episodes` evaluation episodes; returns (episodes, evaluate's metrics, frames written)."""
    import numpy as np
    import torch

    from envs.source import MAX_EVAL_ENVS
    from lab.core.runtime import autocast
    from lab.core.media import Tiler, VideoWriter
    from lab.video import EvalTap, env_frames, render_fps

    if seed is not None:
        source.eval_seed = seed
    n = min(episodes, MAX_EVAL_ENVS)
    env = None
    if video is not None or live is not None:
        try:
            env = source.make_env(n, render_mode="rgb_array")
        except Exception as exc:
            raise LabError(f"{run.cfg.env.id} cannot render rgb_array frames ({exc}); use --no-video") from None
    keys = INFO_COLUMNS.get(run.cfg.env.id, ())
    played: list[Episode] = []
    tiler = Tiler(n)
    writer = VideoWriter(video, render_fps(env)) if video is not None and env is not None else None
    if live is not None and env is not None:
        live.fps = render_fps(env)

    def on_step(env_: Any, live_mask: np.ndarray, ended: list, info: dict) -> None:
        for i, ret, length in ended:
            played.append(Episode(i, ret, length, _info_at(info, i, keys)))
        if writer is None and live is None:
            return
        frame = tiler(env_frames(env_), live_mask)
        if writer is not None:
            writer.append(frame)
        if live is not None:
            live.show(frame)

    metrics: dict[str, Any] = {}
    try:
        with torch.no_grad(), autocast(device, run.cfg.trainer.precision):
            if deterministic:  # the learner's own evaluation policy, exactly as training evaluates
                metrics = learner.evaluate(EvalTap(source, env, on_step, episodes=episodes)).metrics
            else:
                metrics = source.evaluate(lambda obs: learner.act(obs, deterministic=False), episodes,
                                          env=env, on_step=on_step).metrics
    except Quit:
        pass
    finally:
        if writer is not None:
            writer.close()
        if env is not None:
            env.close()
    return played, metrics, writer.frames if writer is not None else 0


# --------------------------------------------------------------------------- reporting
def training_eval(run: Run) -> dict[str, Any] | None:
    """The evaluation that produced this checkpoint, from metrics.jsonl (step = the checkpoint's)."""
    if run.run_dir is None or not (run.run_dir / "metrics.jsonl").is_file():
        return None
    found = None
    for line in (run.run_dir / "metrics.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("step") == run.state.get("step") and "eval/return_mean" in row:
            found = row
    return found


def print_table(run: Run, played: list[Episode], keys: tuple[str, ...], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print(title)
    table = Table()
    for col in ("episode", "env", "return", "length", *keys):
        table.add_column(col, justify="right")
    for k, ep in enumerate(played):
        extra = [str(ep.info.get(key, "")) for key in keys]
        table.add_row(str(k + 1), str(ep.env), f"{ep.ret:.2f}", str(ep.length), *extra)
    console.print(table)


def watch(args: argparse.Namespace) -> int:
    run = open_run(args.run, args.checkpoint, Path(args.runs_dir))
    source, learner, device = rebuild(run, args.device)
    from envs.source import RLSource

    try:
        if isinstance(source, RLSource):  # an env: play episodes (a table, a video, a window)
            return watch_rl(run, source, learner, device, args)
        return watch_show(run, source, learner, args)  # anything else: what the learner's show() writes
    finally:
        source.close()


def watch_show(run: Run, source: Any, learner: Any, args: argparse.Namespace) -> int:
    """Watch a learner that does not act in an env (a GAN, a new kind): its `show()` writes files
    (a GAN: fresh samples and a latent-walk video) into RUN/media/watch_<checkpoint>_step<N>_seed<S>/."""
    step = run.state.get("step", 0)
    seed = args.seed if args.seed is not None else run.cfg.seed + 20_000  # not the training or eval draws
    out = Path(args.out) if args.out else run.media_dir / f"watch_{run.checkpoint.stem}_step{step}_seed{seed}"
    t0 = time.perf_counter()
    files = [Path(p) for p in learner.show(source, out, seed)]
    if not files:
        raise LabError(f"agent={run.cfg.agent.name} shows nothing when watched: its learner "
                       f"({run.cfg.agent.learner}) has no show()")
    if args.json:
        print(json.dumps({"checkpoint": str(run.checkpoint), "step": step, "agent": run.cfg.agent.name,
                          "seed": seed, "files": [str(f) for f in files]}))
        return 0
    print(f"{run.cfg.agent.name}: {run.checkpoint.name} (step {step:,}), seed {seed}, "
          f"{time.perf_counter() - t0:.1f} s")
    for f in files:
        print(f"  {f}")
    return 0


def watch_rl(run: Run, source: Any, learner: Any, device: Any, args: argparse.Namespace) -> int:
    import numpy as np

    cfg = run.cfg
    episodes = args.episodes or cfg.env.eval_episodes
    seed = args.seed if args.seed is not None else source.eval_seed
    view = None
    want_video = not args.no_video
    if args.live:
        problem = display_problem()
        if problem is None:
            view = LiveView(30, args.speed, f"{cfg.agent.name} on {cfg.env.id}")
            want_video = False
        else:
            print(f"lab.watch: --live: {problem}; writing the video instead", file=sys.stderr)
            want_video = True
    step = run.state.get("step", 0)
    mode = "deterministic" if args.deterministic else "stochastic"
    video = None
    if want_video:
        name = f"watch_{run.checkpoint.stem}_step{step}" + ("" if args.deterministic else "_stochastic") + \
               ("" if args.seed is None else f"_seed{args.seed}") + \
               ("" if episodes == cfg.env.eval_episodes else f"_{episodes}ep")
        video = Path(args.out) if args.out else run.media_dir / f"{name}.mp4"
    t0 = time.perf_counter()
    try:
        played, metrics, frames = play(run, source, learner, device, episodes=episodes, seed=args.seed,
                                       deterministic=args.deterministic, video=video, live=view)
    finally:
        if view is not None:
            view.close()
    seconds = time.perf_counter() - t0
    gif = None
    if video is not None and args.gif and frames:
        from lab.core.media import mp4_to_gif

        gif = mp4_to_gif(video, video.with_suffix(".gif"))

    keys = INFO_COLUMNS.get(cfg.env.id, ())
    returns = [ep.ret for ep in played]
    reference = training_eval(run)
    same_as_training = args.seed is None and args.deterministic and episodes == cfg.env.eval_episodes
    if args.json:
        print(json.dumps({
            "checkpoint": str(run.checkpoint), "step": step, "env": cfg.env.id, "agent": cfg.agent.name,
            "seed": seed, "deterministic": args.deterministic, "complete": len(played) == episodes,
            "episodes": [{"env": ep.env, "return": ep.ret, "length": ep.length, **ep.info} for ep in played],
            "return_mean": float(np.mean(returns)) if returns else None,
            "return_std": float(np.std(returns)) if returns else None,
            "training_eval_return_mean": reference.get("eval/return_mean") if reference and same_as_training else None,
            "video": str(video) if video is not None and frames else None,
            "gif": str(gif) if gif else None, "frames": frames}))
        return 0
    title = (f"{cfg.agent.name} on {cfg.env.id}: {run.checkpoint.name} (step {step:,}), "
             f"{mode}, eval seed {seed}")
    print_table(run, played, keys, title)
    if returns:
        print(f"return {np.mean(returns):.2f} ± {np.std(returns):.2f} over {len(returns)} episodes "
              f"({seconds:.1f} s)")
    if len(played) < episodes:
        print(f"stopped after {len(played)} of {episodes} episodes")
    elif reference is not None and same_as_training:
        ref = reference["eval/return_mean"]
        same = math.isclose(ref, float(np.mean(returns)), rel_tol=1e-9, abs_tol=1e-9)
        print(f"the run's evaluation at step {step:,}: return {ref:.2f}"
              + (" (the same episodes)" if same else " (differs: a different device, precision or env version?)"))
    if video is not None and frames:
        print(f"video: {video}" + (f"  gif: {gif}" if gif else ""))
    return 0


# --------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m lab.watch",
        description="Watch a trained agent play (a table of episode returns and a video), or see what any other "
                    "learner shows (a GAN: fresh samples and a latent-walk video).",
        epilog="With the defaults, the episodes are the run's own evaluation (same seeds, quotas and policy).")
    p.add_argument("run", help="a run directory, a checkpoint .pt file, or 'latest' (the newest run with a checkpoint)")
    p.add_argument("--checkpoint", default=None, metavar="best|last|PATH",
                   help="which checkpoint of the run (default: best, else last)")
    p.add_argument("--episodes", type=int, default=None, help="episodes to play (default: the run's env.eval_episodes)")
    p.add_argument("--seed", type=int, default=None,
                   help="RL: the eval seed (default: the run's, seed + 10000); other learners: the seed their "
                        "show() draws with (default: seed + 20000)")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True,
                   help="the learner's evaluation policy, as training evaluates (default; PPO: greedy)")
    p.add_argument("--stochastic", dest="deterministic", action="store_false",
                   help="sample actions from the policy (same as --no-deterministic)")
    p.add_argument("--live", action="store_true", help="play in a window in real time (pygame); headless: write the video")
    p.add_argument("--speed", type=float, default=1.0, help="--live playback speed (2: twice real time)")
    p.add_argument("--gif", action="store_true", help="also write a GIF next to the mp4")
    p.add_argument("--no-video", action="store_true", help="print the table only")
    p.add_argument("--out", default=None, help="RL: the mp4 path (default: RUN/media/watch_<checkpoint>_step<N>.mp4); "
                                              "others: the directory (default: RUN/media/watch_<checkpoint>_step<N>_seed<S>/)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--runs-dir", default="runs", help="where 'latest' looks (default: runs)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the run's trainer.device)")
    args = p.parse_args(argv)
    if args.episodes is not None and args.episodes < 1:
        p.error("--episodes must be >= 1")
    if not args.speed > 0:
        p.error("--speed must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return watch(args)
    except LabError as exc:
        print(f"lab.watch: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
