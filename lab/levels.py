"""Search a level GAN's latent space for levels with a wanted property (MarioGAN's second half).

    python -m lab.levels search RUN --objective "jumps>=8"
    python -m lab.levels search RUN --objective "enemies>=10" --windows 4
    python -m lab.levels search RUN --objective "clear_rate=0.5" --agent AGENT_RUN   # at the edge of an agent
    python -m lab.levels sample RUN --levels 500 --out DIR   # playable levels to train on (env.level=DIR)

Training on a GAN's levels: `env.level=gan:RUN` (or `gan:RUN@N`) samples N (500) playable levels
of 4 windows from the GAN once (cached under $LAB_LEVEL_CACHE/gan) and trains on that set;
`env.level=gan:RUN env.train_levels=0` streams new ones instead (`lab.levels stream`, started by
the env: level k is the first playable sample of latents seeded by k).

RUN is a level GAN's run (`agent=wgan_gp data=mario_levels ...`: its directory, a checkpoint, or
`latest`). A level is `--windows` windows of G side by side, one latent vector each, so the search
space has windows x z_dim dimensions; CMA-ES (Hansen's `cma` package) searches it. Every candidate
is decoded (envs/mario/windows.py) and must be playable (the solver clears it) before its property
counts. Objectives:

    jumps>=N        the solver's way through presses jump at least N times
    enemies>=N      at least N enemies (enemies=N: exactly N)
    steps>=N        the solver needs at least N env steps to clear it
    clear_rate=P    a trained agent (--agent, a Mario run) clears it in P of --episodes episodes
                    with sticky actions (0.25), within --tolerance (0.1)

The search stops at the first level that meets the objective, or after --evals levels, and writes
OUT/level.txt (a level file the game loads), OUT/level.png (the game's art) and OUT/search.json
(the objective, evaluations, the best value, the history); it prints the `lab.watch` command that
plays the level.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

# one BLAS thread, as `python -m lab` (lab/__main__.py says why); must precede numpy's import
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lab.core.errors import LabError

UNPLAYABLE = 1000.0  # the fitness of a level the solver cannot clear


@dataclass
class Objective:
    prop: str  # jumps | enemies | steps | clear_rate
    op: str  # ">=" or "="
    target: float
    tolerance: float = 0.1

    @classmethod
    def parse(cls, text: str, tolerance: float) -> "Objective":
        m = re.fullmatch(r"\s*(jumps|enemies|steps|clear_rate)\s*(>=|=)\s*([0-9.]+)\s*", text)
        if not m:
            raise LabError(f"--objective {text!r}: expected jumps>=N, enemies>=N, enemies=N, steps>=N or "
                           f"clear_rate=P")
        prop, op, value = m.group(1), m.group(2), float(m.group(3))
        if prop == "clear_rate" and (op != "=" or not 0 <= value <= 1):
            raise LabError(f"--objective {text!r}: clear_rate takes =P with P in [0, 1]")
        return cls(prop, op, value, tolerance)

    def fitness(self, value: float) -> float:
        """0 when met; otherwise how far the value is (lower is better)."""
        if self.prop == "clear_rate":
            miss = abs(value - self.target)
            return 0.0 if miss <= self.tolerance + 1e-9 else miss
        if self.op == ">=":
            return max(0.0, self.target - value)
        return abs(value - self.target)

    def __str__(self) -> str:
        return f"{self.prop}{self.op}{self.target:g}"


def jumps(actions: list[int], action_set: str = "simple") -> int:
    """Presses of jump (A) in an action sequence: a jump starts on the press, not on holding it."""
    from envs.mario.actions import action_buttons, resolve_actions
    from envs.mario.engine import BTN_A

    held = (action_buttons(resolve_actions(action_set))[np.asarray(actions, dtype=np.int64)] & BTN_A) != 0
    return int(np.sum(held[1:] & ~held[:-1]) + (held[0] if len(held) else 0))


class AgentJudge:
    """A trained Mario agent playing candidate levels (for clear_rate objectives)."""

    def __init__(self, agent_run: str, episodes: int, sticky: float = 0.25) -> None:
        from lab.runs import open_run, rebuild, with_env_overrides

        run = open_run(agent_run)
        if run.cfg.get("env") is None or run.cfg.env.get("name") != "mario":
            raise LabError(f"--agent {agent_run}: a clear_rate objective needs an agent trained on env=mario")
        # only the candidate level is played: no held-out sets, no training stream
        run = with_env_overrides(run, ["env.eval_levels=none", "env.level=intro", "env.train_levels=null"])
        self.run, self.episodes, self.sticky = run, episodes, sticky
        self.source, self.learner, _ = rebuild(run)

    def clear_rate(self, level_file: Path) -> float:
        from envs import make_vec
        from envs.source import MAX_EVAL_ENVS
        from lab.run import env_kwargs

        cfg = self.run.cfg
        kwargs = {**env_kwargs(cfg), "level": str(level_file), "sticky_actions": self.sticky, "train_levels": None}
        env = make_vec(cfg.env.id, min(self.episodes, MAX_EVAL_ENVS), vectorization=cfg.env.vectorization,
                       max_episode_steps=cfg.env.max_episode_steps, kwargs=kwargs)
        try:
            metrics = self.source.evaluate(self.learner.actor(deterministic=True), self.episodes, env=env).metrics
        finally:
            env.close()
        return float(metrics["clear_rate"])

    def close(self) -> None:
        self.source.close()


def cma_search(level_of: Callable[[np.ndarray], np.ndarray], measure: Callable[[np.ndarray], float | None],
               objective: Objective, dims: int, evals: int, sigma: float, seed: int, popsize: int | None = None,
               shaping: Callable[[], float] | None = None,
               ) -> tuple[float, np.ndarray, float | None, int, list[dict[str, Any]]]:
    """CMA-ES from the origin: (best fitness, its latent, its value, evaluations, history); stops at the
    first latent whose level meets the objective (fitness 0) or after `evals` levels. `shaping()`, in
    [0, 1), is added to a playable level's unmet fitness: a gradient where the value is flat (e.g. the
    generator's expected enemy count while its argmax shows none)."""
    import cma

    options = {"seed": seed + 1, "verbose": -9, **({"popsize": popsize} if popsize else {})}
    es = cma.CMAEvolutionStrategy(np.zeros(dims), sigma, options)
    history: list[dict[str, Any]] = []
    best: tuple[float, np.ndarray, float | None] = (float("inf"), np.zeros(dims), None)
    done = 0
    while done < evals and best[0] > 0:
        xs = es.ask()
        fits = []
        for x in xs[:evals - done]:
            value = measure(level_of(x))
            fit = UNPLAYABLE if value is None else objective.fitness(value)
            if shaping is not None and value is not None and fit > 0:
                fit += shaping()
            done += 1
            history.append({"eval": done, "value": value, "fitness": fit})
            fits.append(fit)
            if fit < best[0]:
                best = (fit, np.asarray(x), value)
                print(f"eval {done}: {objective.prop} {'unplayable' if value is None else f'{value:g}'}"
                      f"{' (met)' if fit == 0 else ''}", flush=True)
            if fit == 0:
                break
        if best[0] > 0 and len(fits) == len(xs):
            es.tell(xs, fits)
    return best[0], best[1], best[2], done, history


def search(args: argparse.Namespace) -> int:
    import torch

    from envs.mario.solver import solve
    from envs.mario.windows import FIRST_ENEMY, decode, picture, stitch, to_level
    from lab.runs import open_run

    objective = Objective.parse(args.objective, args.tolerance)
    if objective.prop == "clear_rate" and not args.agent:
        raise LabError("a clear_rate objective needs --agent AGENT_RUN (a run trained on env=mario)")
    run = open_run(args.run)
    source, gan = _open_level_gan(run, args.run)
    judge = AgentJudge(args.agent, args.episodes) if objective.prop == "clear_rate" else None
    z_dim, k = gan.cfg.z_dim, args.windows
    name = str(objective).replace(">=", "_ge_").replace("=", "_eq_")
    out = Path(args.out or (run.media_dir.parent / "levels" / name))
    scratch = Path(tempfile.mkdtemp(prefix="lab-levels-"))

    soft = {"enemies": 0.0}  # the generator's expected enemy cells in the last level made

    def level_of(x: np.ndarray) -> np.ndarray:
        z = torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(k, z_dim))
        maps = gan.generate(z)
        soft["enemies"] = float(maps[:, FIRST_ENEMY:].sum())
        return stitch(source.to_codes(maps))

    def enemy_shaping() -> float:
        return 0.5 * (1.0 - min(soft["enemies"] / max(objective.target, 1.0), 1.0))

    def measure(codes: np.ndarray) -> float | None:
        """The property's value, None when the level is not playable."""
        level = to_level(codes)
        if level is None:
            return None
        actions = solve(level, max_iters=max(60, 4 * level.width))
        if actions is None:
            return None
        if objective.prop == "jumps":
            return float(jumps(actions))
        if objective.prop == "steps":
            return float(len(actions))
        if objective.prop == "enemies":
            return float(np.sum(codes >= FIRST_ENEMY))
        path = scratch / "candidate.txt"
        path.write_text(decode(codes))
        return judge.clear_rate(path)

    try:
        fit, x, value, evals, history = cma_search(level_of, measure, objective, k * z_dim, args.evals, args.sigma,
                                                   args.seed, args.popsize,
                                                   enemy_shaping if objective.prop == "enemies" else None)
    finally:
        if judge is not None:
            judge.close()
    if value is None:
        print(f"lab.levels: no playable level in {evals} evaluations", file=sys.stderr)
        return 1
    import imageio.v3 as iio

    codes = level_of(x)
    out.mkdir(parents=True, exist_ok=True)
    (out / "level.txt").write_text(decode(codes))
    iio.imwrite(out / "level.png", picture(codes))
    met = fit == 0
    (out / "search.json").write_text(json.dumps({
        "run": str(run.checkpoint), "objective": str(objective), "met": met, "evaluations": evals, "value": value,
        "fitness": fit, "windows": k, "z_dim": z_dim, "latent": [float(v) for v in x], "history": history}, indent=1))
    print(f"{'met' if met else 'not met'}: {objective.prop} {value:g} after {evals} evaluations; "
          f"{out / 'level.txt'}")
    print(f"play it: python -m lab.watch {args.agent or 'AGENT_RUN'} env.level={out / 'level.txt'}")
    return 0 if met else 1


def sample(args: argparse.Namespace) -> int:
    """Write --levels playable levels of --windows windows each (latents from --seed) to --out."""
    import torch

    from envs.mario.level_metrics import playable
    from envs.mario.windows import decode, stitch

    from lab.runs import open_run

    source, gan = _open_level_gan(open_run(args.run), args.run)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    kept, tries, batch = 0, 0, 64
    while kept < args.levels and tries < 20 * args.levels:
        z = torch.as_tensor(rng.standard_normal((batch, args.windows, gan.cfg.z_dim)), dtype=torch.float32)
        maps = source.to_codes(gan.generate(z.reshape(-1, gan.cfg.z_dim))).reshape(batch, args.windows, 16, -1)
        levels = [stitch(m) for m in maps]
        for codes, ok in zip(levels, playable(levels)):  # only levels the solver clears are kept
            tries += 1
            if ok and kept < args.levels:
                (out / f"level_{kept:05d}.txt").write_text(decode(codes))
                kept += 1
    if kept < args.levels:
        print(f"lab.levels: error: only {kept} of {tries} generated levels were playable (wanted {args.levels})",
              file=sys.stderr)
        return 2
    (out / "sample.json").write_text(json.dumps({"run": str(args.run), "levels": kept, "tries": tries,
                                                 "windows": args.windows, "seed": args.seed}))
    print(f"{kept} playable levels of {tries} generated ({100 * kept / tries:.0f}%) in {out}")
    return 0


def stream(args: argparse.Namespace) -> int:
    """The background process of `env.level=gan:RUN env.train_levels=0` (envs/mario/supply.py's
    LevelStream): for k = FIRST, FIRST + 1, ... up to the last index read from stdin, write level k to
    ROOT/level_<k>.txt: the first playable level among latents drawn from generator([seed, k]), so
    level k depends on k alone (exact resume). Ends when stdin closes (the env is gone)."""
    import torch

    from envs.mario.level_metrics import playable
    from envs.mario.supply import LevelStream
    from envs.mario.windows import decode, stitch
    from lab.runs import open_run

    source, gan = _open_level_gan(open_run(args.run), args.run)
    where = LevelStream("", (), args.root)
    Path(args.root).mkdir(parents=True, exist_ok=True)
    k, target = args.first, args.first - 1
    for line in sys.stdin:
        target = max(target, int(line))
        while k <= target:
            path = where.path(k)
            if not path.is_file():
                rng = np.random.default_rng([args.seed, k])
                found = None
                for _ in range(50):  # 8 candidates at a time; the preset makes 81-88% playable 4-window levels
                    z = torch.as_tensor(rng.standard_normal((8, args.windows, gan.cfg.z_dim)), dtype=torch.float32)
                    with torch.no_grad():
                        maps = source.to_codes(gan.generate(z.reshape(-1, gan.cfg.z_dim)))
                    for codes in maps.reshape(8, args.windows, 16, -1):
                        level = stitch(codes)
                        if playable([level])[0]:
                            found = level
                            break
                    if found is not None:
                        break
                if found is None:
                    print(f"lab.levels: error: no playable level among 400 samples for stream index {k}",
                          file=sys.stderr)
                    return 2
                tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
                tmp.write_text(decode(found))
                os.replace(tmp, path)  # complete when it appears
            k += 1
    return 0


def _open_level_gan(run: Any, run_arg: str) -> tuple[Any, Any]:
    """(source, GAN) of an opened run, which must be a level GAN's."""
    from lab.runs import rebuild

    if run.cfg.get("data") is None or run.cfg.data.get("name") != "mario_levels":
        raise LabError(f"{run_arg} is not a level GAN's run (data=mario_levels); found "
                       f"{'data=' + run.cfg.data.name if run.cfg.get('data') else 'env=' + str(run.cfg.env.name)}")
    source, gan, _ = rebuild(run)
    return source, gan


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lab.levels", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("search", help="CMA-ES in a level GAN's latent space for a level with a property")
    s.add_argument("run", help="the level GAN's run directory, checkpoint, or 'latest'")
    s.add_argument("--objective", required=True, help="jumps>=N | enemies>=N | enemies=N | steps>=N | clear_rate=P")
    s.add_argument("--agent", help="a trained Mario run (clear_rate objectives)")
    s.add_argument("--episodes", type=int, default=20, help="episodes the agent plays per level (clear_rate)")
    s.add_argument("--tolerance", type=float, default=0.1, help="how near clear_rate must come to P")
    s.add_argument("--windows", type=int, default=4, help="windows side by side in a level")
    s.add_argument("--evals", type=int, default=500, help="at most this many levels evaluated")
    s.add_argument("--sigma", type=float, default=1.0, help="CMA-ES's initial step size (z ~ N(0, 1))")
    s.add_argument("--popsize", type=int, default=None, help="CMA-ES's population (default: its own)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", help="where the level goes (default: RUN/levels/<objective>)")
    m = sub.add_parser("sample", help="write playable levels sampled from a level GAN (what env.level=gan:RUN trains on)")
    m.add_argument("run", help="the level GAN's run directory, checkpoint, or 'latest'")
    m.add_argument("--levels", type=int, default=500, help="how many playable levels to write")
    m.add_argument("--windows", type=int, default=4, help="windows side by side in a level")
    m.add_argument("--seed", type=int, default=0, help="the latents' seed")
    m.add_argument("--out", required=True, help="the folder the levels go to")
    t = sub.add_parser("stream", help="(internal) the level-writing process of env.level=gan:RUN env.train_levels=0")
    t.add_argument("run", help="the level GAN's checkpoint")
    t.add_argument("--windows", type=int, default=4)
    t.add_argument("--seed", type=int, default=0, help="the latents' seed")
    t.add_argument("root", help="where level_<k>.txt are written")
    t.add_argument("first", type=int, help="the first index")
    args = p.parse_args(argv)
    if args.command == "search" and (args.windows < 1 or args.evals < 1 or args.episodes < 1 or args.sigma <= 0):
        p.error("--windows, --evals, --episodes must be >= 1 and --sigma > 0")
    if args.command == "sample" and (args.windows < 1 or args.levels < 1):
        p.error("--windows and --levels must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        return {"search": search, "sample": sample, "stream": stream}[args.command](args)
    except LabError as exc:
        print(f"lab.levels: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
