"""Agents on GAN-made levels (issue 17, item 5): PPO trained on levels sampled from a level GAN, on
procedural levels, and on both, one step budget, several seeds; every run is evaluated on held-out
levels it never saw (200 procedural levels on seeds training never uses, the four built-in levels,
and --folder's levels when given). Table: IQM over seeds with 95% stratified-bootstrap intervals
(rliable, via lab.report.iqm_intervals).

    python benchmarks/mario_gan_levels.py --gan RUN [--levels 500] [--seeds 3] [--steps 5000000]
        [--folder DIR] [--out benchmarks/out/mario_gan_levels] [--extra KEY=VALUE ...]

RUN: a level GAN's run (python -m lab agent=wgan_gp data=mario_levels). Each condition trains on N
levels: `gan:RUN@N`, `procedural` with train_levels=N, or both lists together; `gan_stream` on an
unbounded stream of new GAN levels (`gan:RUN` with train_levels=0); `corpus` on the levels the GAN
itself learned from (its run's data.levels, data.root, data.procedural_levels at data.difficulty:
the control for whether the GAN's levels teach more than its corpus does). Runs already finished
in --out are kept (re-running resumes the study); --conditions runs some of them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONDITIONS = ("gan", "procedural", "both", "gan_stream", "corpus")
KEYS = ("clear_rate", "heldout/procedural/clear_rate", "heldout/clear_rate")


def write_corpus(gan: str, out: Path) -> list[str]:
    """The GAN's training corpus as env.level entries: its procedural levels written out as files (so
    held-out evaluation keeps env.difficulty, the other conditions' 0.5, whatever difficulty the corpus
    was made at), its other entries (built-in names, files, folders, data.root) as they are, so that a
    built-in level in the corpus is left out of held-out evaluation as for any training level."""
    import yaml

    from envs.data.mario_levels import corpus_spec
    from envs.mario.supply import LevelSupply

    data = yaml.safe_load((Path(gan) / ".hydra" / "config.yaml").read_text())["data"]
    spec = [str(e) for e in corpus_spec(data["levels"], data.get("root"), data["procedural_levels"])]
    entries = [e for e in spec if e != "procedural"]
    if "procedural" in spec:
        folder = out / "corpus_levels"
        if not folder.is_dir():
            supply = LevelSupply("procedural", train_levels=data["procedural_levels"],
                                 difficulty=data["difficulty"], prefetch=False)
            tmp = out / "corpus_levels.tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            for key in supply.keys:
                level = supply.data(key).level
                (tmp / f"{level.name}.txt").write_text(level.text)
            tmp.rename(folder)
        entries.append(str(folder))
    return entries


def level_args(condition: str, gan: str, n: int, out: Path) -> list[str]:
    if condition == "corpus":
        return [f"env.level=[{','.join(write_corpus(gan, out))}]"]
    if condition == "gan":
        return [f"env.level=gan:{gan}@{n}"]
    if condition == "gan_stream":  # new GAN levels keep coming (a level pool, as unbounded procedural)
        return [f"env.level=gan:{gan}", "env.train_levels=0"]
    if condition == "procedural":
        return ["env.level=procedural", f"env.train_levels={n}"]
    return [f"env.level=[gan:{gan}@{n},procedural]", f"env.train_levels={n}"]


def train(out: Path, condition: str, seed: int, args: argparse.Namespace) -> dict:
    where = out / condition / f"seed{seed}"
    if not (where / "result.json").exists():
        heldout = f"env.eval_levels=[{args.folder}]" if args.folder else "env.eval_levels=heldout"
        cmd = ["agent=ppo", "env=mario", *level_args(condition, args.gan, args.levels, out), "env.difficulty=0.5",
               heldout, f"trainer.total_steps={args.steps}", f"trainer.eval_every={max(args.steps // 5, 1)}",
               "trainer.video_every=0", f"seed={seed}", "wandb.mode=disabled", f"hydra.run.dir={where}", *args.extra]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-m", "lab", *cmd], cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{condition} seed={seed}: {proc.stderr[-2000:]}")
    return json.loads((where / "result.json").read_text())["final"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", required=True, help="the level GAN's run directory")
    parser.add_argument("--levels", type=int, default=500, help="training levels per condition")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5_000_000)
    parser.add_argument("--folder", help="a folder of held-out level files evaluation plays too (e.g. real SMB levels)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "mario_gan_levels")
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides for every run (e.g. a preset's)")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS),
                        help="which conditions to run and tabulate (default: all)")
    args = parser.parse_args()
    finals: dict[str, list[dict]] = {c: [] for c in args.conditions}
    for seed in range(args.seeds):  # seeds alternate across conditions: load drifts hit all alike
        for condition in args.conditions:
            final = train(args.out, condition, seed, args)
            finals[condition].append(final)
            print(f"{condition:>10} seed={seed}: clear {final.get('clear_rate', 0):.2f} train, "
                  f"{final.get('heldout/procedural/clear_rate', 0):.2f} held-out procedural, "
                  f"{final.get('heldout/clear_rate', 0):.2f} all held out", flush=True)
    import numpy as np

    from lab.report import iqm_intervals

    print("\n| trained on | train clear rate | held-out procedural | all held out | built-ins (each) |\n|---|---|---|---|---|")
    for condition in args.conditions:
        cells = []
        for key in KEYS:
            (iqm,), (low,), (high,) = iqm_intervals(np.array([[f.get(key, np.nan)] for f in finals[condition]]))
            cells.append(f"{iqm:.2f} [{low:.2f}, {high:.2f}]")
        builtins = sorted({k.split("/")[1] for f in finals[condition] for k in f
                           if k.startswith("heldout/") and k.endswith("/clear_rate") and k.count("/") == 2
                           and k.split("/")[1] != "procedural"})
        each = ", ".join(f"{b} {np.mean([f.get(f'heldout/{b}/clear_rate', np.nan) for f in finals[condition]]):.2f}"
                         for b in builtins)
        count = {"gan_stream": "a new level stream", "corpus": "the GAN's corpus",
                 "both": f"{2 * args.levels} levels"}.get(condition, f"{args.levels} levels")
        print(f"| {condition} ({count}) | " + " | ".join(cells) + f" | {each} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
