"""Record demonstrations for imitation learning (agent=bc, agent=gail) to a checksummed file.

    python -m lab.demos RUN [--episodes 10] [--checkpoint best|last] [--out FILE] [env.KEY=VALUE ...]
    python -m lab.demos solver [env=mario] env.level=intro [--episodes 20] --out FILE [OVERRIDES ...]

RUN (a run directory, a checkpoint, or `latest`): the trained policy plays its own evaluation
episodes (the run's eval seeds and deterministic policy, as `lab.watch` and training's evaluations
play them; `--seed` for others), and every transition is recorded with the env config and the
checkpoint (path and sha256) it came from. Default --out: RUN/demos/<checkpoint>-<N>ep.npz.

`solver`: the Mario game's beam-search solver plays; the env is composed from the overrides as
`python -m lab agent=gail` composes it (`env=mario` by default, so gail_mario's env keys apply;
`env.level=...` any level or level set; another preset's env keys with `agent_env=...`), without
sticky actions (the solver's plan replays exactly only in the
deterministic game). Each episode plays the level the env draws next (a set: one level after
another); a level the solver cannot beat is skipped and counted.

The file format (NumPy .npz, arrays and a JSON meta with a checksum): envs/demos.py. Demos are
played with sticky actions off unless the run's env has them (RUN) - the env as configured.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):  # as lab.watch
    os.environ.setdefault(_var, "1")

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lab.core.errors import LabError


# --------------------------------------------------------------------------- recording
class Recorder:
    """Transitions of finished episodes, in the order the episodes end."""

    def __init__(self) -> None:
        self.episodes: list[list[tuple]] = []
        self.returns: list[float] = []

    def add(self, episode: list[tuple]) -> None:
        self.episodes.append(episode)
        self.returns.append(float(sum(t[2] for t in episode)))

    def arrays(self) -> dict[str, np.ndarray]:
        rows = [t for ep in self.episodes for t in ep]
        obs, actions, rewards, next_obs, terminated, truncated = (np.stack([r[k] for r in rows]) for k in range(6))
        episode = np.concatenate([np.full(len(ep), i, np.int64) for i, ep in enumerate(self.episodes)])
        return {"obs": obs, "actions": actions, "rewards": rewards.astype(np.float32), "next_obs": next_obs,
                "terminated": terminated.astype(bool), "truncated": truncated.astype(bool), "episode": episode}


def record_policy(env: Any, act: Callable[[np.ndarray, np.ndarray], np.ndarray], episodes: int, seed: int
                  ) -> Recorder:
    """Play `episodes` episodes with `act(obs, first)` on a vector env (NEXT_STEP autoreset), each
    sub-env a fixed quota of them (as RLSource.evaluate), and record every transition."""
    n = env.num_envs
    quota = np.array([episodes // n + (i < episodes % n) for i in range(n)])
    done_count = np.zeros(n, np.int64)
    current: list[list[tuple]] = [[] for _ in range(n)]
    rec = Recorder()
    obs, _ = env.reset(seed=seed)
    first = np.ones(n, dtype=bool)
    reset_next = np.zeros(n, dtype=bool)  # the next step of this sub-env is a reset step (its action ignored)
    while (done_count < quota).any():
        actions = np.asarray(act(obs, first))
        next_obs, reward, terminated, truncated, _ = env.step(actions)
        ended = terminated | truncated
        for i in np.flatnonzero(~reset_next & (done_count < quota)):
            current[i].append((obs[i], actions[i], float(reward[i]), next_obs[i], bool(terminated[i]),
                               bool(truncated[i])))
            if ended[i]:
                rec.add(current[i])
                current[i] = []
                done_count[i] += 1
        first = reset_next.copy()  # after a reset step the observation starts an episode
        reset_next = ended & ~reset_next
        obs = next_obs
    return rec


def record_solver(env: Any, episodes: int, seed: int) -> tuple[Recorder, int]:
    """The Mario solver's play on the levels a one-game env draws; returns the recording and how many
    levels the solver could not beat (skipped)."""
    from envs.mario.solver import solve

    game = env.unwrapped
    rec, skipped = Recorder(), 0
    obs, _ = env.reset(seed=seed)
    while len(rec.episodes) < episodes:
        plan = solve(game.levels[0], actions=game.action_set, frame_skip=game.frame_skip, time_limit=game.time_limit)
        if plan is None:
            skipped += 1
            if game.supply.fixed:
                raise LabError(f"the solver cannot beat level {game.levels[0].name} with these env settings "
                               f"(actions, time_limit, frame_skip): try env.actions=simple")
            if skipped > 10 * episodes:
                raise LabError(f"the solver beat none of {skipped} levels drawn: no demos to record")
            plan = []
        episode: list[tuple] = []
        info: dict[str, Any] = {}
        for a in plan:
            action = np.array([a])
            next_obs, reward, terminated, truncated, info = env.step(action)
            episode.append((obs[0], np.int64(a), float(reward[0]), next_obs[0], bool(terminated[0]),
                            bool(truncated[0])))
            obs = next_obs
            if terminated[0] or truncated[0]:
                break
        if plan and not (episode and (episode[-1][4] or episode[-1][5])):
            raise LabError(f"the solver's plan for level {game.levels[0].name} did not end the episode when "
                           f"replayed in the env (its settings differ from the solver's)")
        if plan and not bool(info.get("flag_get", [False])[0]):
            raise LabError(f"the solver's plan for level {game.levels[0].name} did not reach the flag when "
                           f"replayed in the env (env.max_episode_steps or another limit cut it short?)")
        if plan:
            rec.add(episode)
            obs, *_ = env.step(np.array([0]))  # the reset step: the next level's first observation
        else:
            obs, _ = env.reset(seed=seed + skipped)  # draw another level
    return rec, skipped


# --------------------------------------------------------------------------- the two sources
def from_run(args: argparse.Namespace) -> tuple[Recorder, dict[str, Any], Path]:
    from omegaconf import OmegaConf

    from envs.data.download import file_digest
    from envs.demos import describe_space
    from lab.runs import open_run, rebuild, with_env_overrides

    run = with_env_overrides(open_run(args.source, args.checkpoint, Path(args.runs_dir)), args.overrides)
    if not run.cfg.get("env"):
        raise LabError(f"{args.source} is not an RL run (agent={run.cfg.agent.name} learns from data=...): "
                       f"demos come from a policy that acts in an env")
    source, learner, _ = rebuild(run)
    try:
        n = min(args.episodes, 16)
        env = source.make_env(n)
        seed = source.eval_seed if args.seed is None else args.seed
        import torch

        with torch.no_grad():
            rec = record_policy(env, learner.actor(deterministic=True), args.episodes, seed)
        env.close()
        meta = {"env_id": run.cfg.env.id, "env": OmegaConf.to_container(run.cfg.env, resolve=True),
                "observation_space": describe_space(source.single_observation_space),
                "action_space": describe_space(source.single_action_space),
                "demonstrator": {"kind": "run", "agent": run.cfg.agent.name, "checkpoint": str(run.checkpoint),
                                 "checkpoint_sha256": file_digest(run.checkpoint)},
                "seed": seed}
    finally:
        source.close()
    base = run.run_dir if run.run_dir is not None else run.checkpoint.parent
    out = Path(args.out) if args.out else base / "demos" / f"{run.checkpoint.stem}-{args.episodes}ep.npz"
    return rec, meta, out


def from_solver(args: argparse.Namespace) -> tuple[Recorder, dict[str, Any], Path]:
    from omegaconf import OmegaConf

    from envs import make_vec
    from envs.demos import describe_space
    from lab.config import CONF_DIR, register_configs, search_dirs
    from lab.gan_levels import gan_levels
    from lab.preflight import check_overrides
    from lab.run import env_kwargs

    if not args.out:
        raise LabError("lab.demos solver needs --out FILE (where the demos go)")
    env_given = any(a.startswith("env=") for a in args.overrides)
    # composed as `python -m lab agent=gail` composes it (its preset gail_<env>'s env keys), so the demos
    # fit a GAIL run by default; the demos file itself is what is being made
    argv = ["agent=gail", "agent.demos=recording", *([] if env_given else ["env=mario"]), *args.overrides]
    register_configs(search_dirs(argv))
    error, cfg = check_overrides(str(CONF_DIR), argv)
    if error:
        raise LabError(error)
    if cfg.env.get("name") != "mario":
        raise LabError(f"lab.demos solver plays the Mario game (env=mario), not env={cfg.env.get('name')}")
    kwargs = {**env_kwargs(cfg), "sticky_actions": 0.0}
    kwargs["level"] = gan_levels(kwargs.get("level"), kwargs.get("train_levels"))
    try:
        env = make_vec(cfg.env.id, 1, vectorization=cfg.env.vectorization, max_episode_steps=cfg.env.max_episode_steps,
                       kwargs=kwargs)
    except ValueError as exc:
        raise LabError(str(exc)) from None
    seed = cfg.seed if args.seed is None else args.seed
    try:
        rec, skipped = record_solver(env, args.episodes, seed)
    finally:
        env.close()
    if skipped:
        print(f"lab.demos: the solver beat none of the plans for {skipped} level(s); they were skipped")
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    env_cfg["sticky_actions"] = 0.0
    meta = {"env_id": cfg.env.id, "env": env_cfg,
            "observation_space": describe_space(env.single_observation_space),
            "action_space": describe_space(env.single_action_space),
            "demonstrator": {"kind": "solver", "skipped_levels": skipped}, "seed": seed}
    return rec, meta, Path(args.out)


# --------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lab.demos", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="a run directory, checkpoint or 'latest'; or 'solver' (the Mario solver)")
    p.add_argument("overrides", nargs="*", help="RUN: env.KEY=VALUE overrides; solver: config overrides "
                                                "(env=mario env.level=...)")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--checkpoint", default=None, help="best (default) or last, for RUN")
    p.add_argument("--seed", type=int, default=None, help="the episodes' seed (default: the run's eval seed)")
    p.add_argument("--out", default=None, help="the demos file (never overwritten)")
    p.add_argument("--runs-dir", default="runs")
    args = p.parse_intermixed_args(argv)
    if args.episodes < 1:
        p.error("--episodes must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from envs.demos import DemosError, save_demos

    try:
        args = parse_args(argv)
        rec, meta, out = from_solver(args) if args.source == "solver" else from_run(args)
        if out.exists():
            raise LabError(f"{out} already exists: choose another --out (demos files are never overwritten)")
        meta["episode_returns"] = rec.returns
        checksum = save_demos(out, rec.arrays(), meta)
    except (LabError, DemosError) as exc:
        print(f"lab.demos: error: {exc}", file=sys.stderr)
        return 2
    lengths = [len(ep) for ep in rec.episodes]
    print(f"lab.demos: {len(rec.episodes)} episodes, {sum(lengths):,} transitions, return "
          f"{np.mean(rec.returns):.1f} +- {np.std(rec.returns):.1f} (min {min(rec.returns):.1f}) -> {out} "
          f"(sha256 {checksum[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
