"""Mode coverage on the 2-D mixtures (PacGAN's protocol): ring8 and grid25, several seeds,
the plain GAN vs the tuned preset; mean and standard error of modes captured and of the
high-quality share (2,500 samples of the EMA generator, G itself when ema_beta=0; within 3 std of a mode).

    python benchmarks/gan_mixtures.py                        # both data sets, 5 seeds, both presets
    python benchmarks/gan_mixtures.py --data ring8 --seeds 0 1 --presets best

Presets: `vanilla` = the plain non-saturating GAN (Goodfellow et al. 2014): constant learning
rates, no R1, no EMA (agent.lr_decay=false agent.r1_gamma=0 agent.ema_beta=0), with the data
preset's networks, z_dim, batch size and step budget, so the difference is the recipe; `best` = agent=gan
with conf/agent_data/gan_<data>.yaml (see those files). Bars: ring8 8/8 modes and >= 95% high
quality; grid25 >= 24.5/25 and >= 90%; under 5 minutes of CPU a run (cpu_s, one torch thread).
Results go to benchmarks/out/gan_mixtures.json (--out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRESETS = {
    "vanilla": ["agent=gan", "agent.lr_decay=false", "agent.r1_gamma=0", "agent.ema_beta=0"],
    "best": ["agent=gan"],  # + conf/agent_data/gan_<data>.yaml
}
BARS = {"ring8": (8.0, 0.95), "grid25": (24.5, 0.90)}


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from lab.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=overrides)


def mean_se(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, float("nan")
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    p.add_argument("--presets", nargs="+", default=list(PRESETS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--extra", nargs="*", default=[], help="more overrides for every run")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "gan_mixtures.json",
                   help="results JSON (give each of two parallel invocations its own)")
    args = p.parse_args()
    from lab.run import train

    out_dir = Path(tempfile.mkdtemp(prefix="gan_mixtures_"))
    rows, summary = [], {}
    for data in args.data:
        for preset in args.presets:
            for seed in args.seeds:
                over = ["wandb.mode=disabled", "logger.console=false", *PRESETS[preset], f"data={data}",
                        f"seed={seed}", *args.extra]
                t, cpu = time.time(), time.process_time()
                result = train(compose(over), out_dir / f"{data}_{preset}_{seed}", overrides=over)
                f, cpu = result["final"], time.process_time() - cpu
                row = {"data": data, "preset": preset, "seed": seed, "modes": f["modes"],
                       "hq_fraction": f["hq_fraction"], "reverse_kl": f["reverse_kl"],
                       "steps": result["steps"], "train_s": result["wall_time_s"], "cpu_s": round(cpu, 1),
                       "load_avg": round(os.getloadavg()[0], 2)}
                rows.append(row)
                print(f"{data:7s} {preset:8s} seed {seed}: modes {f['modes']:2d}  hq {f['hq_fraction']:.3f}  "
                      f"rkl {f['reverse_kl']:.3f}  ({result['steps']} steps, {result['wall_time_s']:.0f} s train, "
                      f"{time.time() - t:.0f} s wall, {cpu:.0f} s CPU, load {row['load_avg']:.1f})", flush=True)
            sel = [r for r in rows if r["data"] == data and r["preset"] == preset]
            (m, m_se), (h, h_se) = mean_se([r["modes"] for r in sel]), mean_se([r["hq_fraction"] for r in sel])
            bar = BARS[data]
            summary[f"{data}/{preset}"] = {"modes": m, "modes_se": m_se, "hq": h, "hq_se": h_se, "n": len(sel),
                                           "cpu_s_max": max(r["cpu_s"] for r in sel),
                                           "meets_bar": m >= bar[0] and h >= bar[1]}
            print(f"== {data} {preset}: modes {m:.2f} ± {m_se:.2f}, high quality {100 * h:.1f}% ± {100 * h_se:.1f} "
                  f"over {len(sel)} seeds (bar: {bar[0]} modes, {100 * bar[1]:.0f}%)", flush=True)
    import torch

    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "summary": summary, "extra": args.extra, "torch": torch.__version__,
                               "cpu_count": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
