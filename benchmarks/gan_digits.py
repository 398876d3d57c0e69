"""DCGAN-family presets on the bundled digits: lab-feature FID of the EMA generator at
initialisation and at the end, recall, coverage and (conditional) within-class diversity beside
what held-out real digits score, training speed in images/s, and the final sample grid.

    python benchmarks/gan_digits.py                          # agent=dcgan, seed 0
    python benchmarks/gan_digits.py --agent cgan --seeds 0 1 2

The metrics are computed in the feature space of a small classifier trained on the digits
themselves (agents.gan_metrics.dataset_extractor), 898 generated images against 898 reference digits,
beside 898 held-out digits scored the same way (agents/gan.py evaluate): comparable across lab
runs, not with Inception-FIDs from papers. The bar (issue 13): FID falls >= 20-fold; recall,
coverage and class diversity at least half of the held-out real digits'.
Results go to benchmarks/out/gan_digits.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from lab.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=overrides)


def run(agent: str, seed: int, steps: int | None, out_dir: Path) -> dict:
    import torch

    from lab import run as lab_run
    from lab.core.runtime import configure

    over = ["wandb.mode=disabled", "logger.console=false", f"agent={agent}", f"seed={seed}"]
    if steps:
        over.append(f"trainer.total_steps={steps}")
    cfg = compose(over)
    # the same seed builds the same networks: score the untrained EMA generator first
    configure(cfg.seed, cfg.trainer.threads, False)
    source = lab_run.build_source(cfg)
    learner = lab_run.build_learner(cfg, source, torch.device("cpu"))
    with torch.no_grad():
        fid_init = learner.evaluate(source).metrics["fid"]
    run_dir = out_dir / f"{agent}_seed{seed}"
    result = lab_run.train(cfg, run_dir, overrides=over)
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    images = max(l.get("train/real_samples", 0) for l in lines)
    grids = sorted((run_dir / "media").glob("samples_*.png"))
    final = result["final"]
    bar = {"fid": final["fid"] <= fid_init / 20}
    bar.update({m: final[m] >= 0.5 * final[f"real_{m}"] for m in ("recall", "coverage", "class_diversity")
                if m in final})
    return {"agent": agent, "seed": seed, "steps": result["steps"], "fid_init": fid_init,
            "fid_final": final["fid"], "fid_best": result["best_eval"], "final": final, "bar": bar,
            "fid_ratio": fid_init / result["final"]["fid"], "train_s": result["wall_time_s"],
            "images_per_s": images / result["wall_time_s"], "g_steps_per_s": result["steps"] / result["wall_time_s"],
            "grid": str(grids[-1]) if grids else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent", default="dcgan")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, default=None, help="generator steps (default: the preset's)")
    p.add_argument("--out", default=None, help="keep run directories here (default: a temp dir)")
    args = p.parse_args()
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="gan_digits_"))
    rows = []
    for seed in args.seeds:
        t = time.time()
        row = run(args.agent, seed, args.steps, out_dir)
        rows.append(row)
        print(f"{row['agent']} seed {seed}: FID {row['fid_init']:.1f} -> {row['fid_final']:.2f} "
              f"({row['fid_ratio']:.1f}x lower; best {row['fid_best']:.2f}) in {row['steps']} G steps, "
              + "".join(f"{m} {row['final'][m]:.2f} (real {row['final'][f'real_{m}']:.2f}), "
                        for m in ("recall", "coverage", "class_diversity") if m in row["final"])
              + f"bar {'met' if all(row['bar'].values()) else 'missed'}, "
              f"{row['images_per_s']:.0f} real images/s, {row['g_steps_per_s']:.1f} G steps/s "
              f"({time.time() - t:.0f} s wall); grid: {row['grid']}", flush=True)
    import torch

    out = ROOT / "benchmarks" / "out" / "gan_digits.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "torch": torch.__version__, "cpu_count": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
