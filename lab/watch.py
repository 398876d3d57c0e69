"""Watch a trained agent play: rebuild a run from its saved config, load a checkpoint, play
evaluation episodes, print their returns and write a video (never needs a display).

    python -m lab.watch runs/2026-01-02/10-00-00_ppo_cartpole     # best.pt, the run's eval seeds
    python -m lab.watch latest --checkpoint last --episodes 3 --gif
    python -m lab.watch latest --live --speed 2                    # a window; space pauses, q quits
    python -m lab.watch latest env.level=pits env.sticky_actions=0.25   # a level it never trained on

The episodes are RLSource.evaluate's, played by `learner.evaluate` (the learner's own evaluation
policy): the same seeds (`seed + 10_000`) and per-env episode quotas as the run's own
evaluations, so with the default arguments the
returns equal the evaluation that produced the checkpoint (best.pt: the best evaluation;
last.pt: the final one). The video tiles the evaluation envs side by side (one env: full size).
A run whose source is not an env (a GAN, a new learner kind) is watched through its learner's
`show()`: a GAN writes fresh samples and a latent-walk video. Reopening a run: lab/runs.py; the
window: lab/viewer.py.
"""

from __future__ import annotations

import os

# Same numerics as `python -m lab` (a multi-threaded BLAS may sum in another order): before numpy.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.core.errors import LabError
from lab.runs import Run, open_run, rebuild, with_env_overrides
from lab.viewer import LiveView, Quit, display_problem

# Per-episode info shown as extra columns, read from the step that ended the episode.
INFO_COLUMNS: dict[str, tuple[str, ...]] = {"lab/Mario-v0": ("flag_get", "x_pos", "progress")}


@dataclass
class Episode:
    env: int
    ret: float
    length: int
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- playing
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
                metrics = source.evaluate(learner.actor(deterministic=False), episodes, env=env,
                                          on_step=on_step).metrics
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
    run = with_env_overrides(open_run(args.run, args.checkpoint, Path(args.runs_dir)), args.overrides)
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
        if video.suffix != ".mp4":  # --out DIR: the default name inside it
            video = video / f"{name}.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
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
    # the run's own evaluation is a reference only for the same episodes: its seed, mode, count and env
    same_as_training = (args.seed is None and args.deterministic and episodes == cfg.env.eval_episodes
                        and not args.overrides)
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
    p.add_argument("overrides", nargs="*", metavar="env.KEY=VALUE",
                   help="play with these env settings instead of the run's (e.g. env.level=pits, a level file or "
                        "folder it never trained on, env.sticky_actions=0.25)")
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
    p.add_argument("--out", default=None, help="RL: the mp4 path, or a folder for it (default: RUN/media/watch_<checkpoint>_step<N>.mp4); "
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
