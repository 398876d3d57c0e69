"""The tuned presets of every GAN agent on the 2-D mixtures (conf/agent_data/<agent>_<data>.yaml,
issue 13): each composes for its pair, sets the values its header reports measuring, keeps the
agent's defining loss and regulariser, and still yields to the command line. Cheap: composition
only; the learning itself is a benchmark (benchmarks/gan_mixtures.py --agent ..., RESULTS.md)."""

from __future__ import annotations

import pytest

from conftest import ROOT, compose

# what each preset sets (agent.* and trainer.total_steps), as measured in benchmarks/RESULTS.md
PRESETS: dict[tuple[str, str], dict[str, object]] = {
    ("dcgan", "ring8"): {"z_dim": 2, "g_lr": 1e-3, "d_lr": 1e-3, "r1_gamma": 0.01, "lr_decay": True,
                         "ema_beta": 0.99, "total_steps": 12000},
    ("dcgan", "grid25"): {"z_dim": 2, "batch_size": 128, "g_lr": 1e-3, "d_lr": 1e-3, "r1_gamma": 0.05,
                          "r1_every": 4, "r1_decay": True, "lr_decay": True, "ema_beta": 0.99, "total_steps": 16000},
    # the SN D needs 5 D steps per G step and R1 (sngan_ring8.yaml's header); cgan_ring8 the same recipe
    # EMA 0.999: G swings between evaluations on the ring (sngan_ring8.yaml's header)
    ("sngan", "ring8"): {"z_dim": 2, "g_lr": 1e-3, "d_lr": 1e-3, "n_critic": 5, "r1_gamma": 1.0, "r1_every": 4,
                         "lr_decay": True, "ema_beta": 0.999, "total_steps": 7000},
    ("cgan", "ring8"): {"z_dim": 2, "g_lr": 1e-3, "d_lr": 1e-3, "n_critic": 5, "r1_gamma": 1.0, "r1_every": 4,
                        "lr_decay": True, "ema_beta": 0.999, "total_steps": 7000},
    # cgan_ring8's recipe with gan_grid25's fading R1 (cgan_grid25.yaml's header)
    ("cgan", "grid25"): {"z_dim": 2, "batch_size": 64, "g_lr": 1e-3, "d_lr": 1e-3, "n_critic": 5, "r1_gamma": 1.0,
                         "r1_every": 4, "r1_decay": True, "lr_decay": True, "ema_beta": 0.99, "total_steps": 7000},
    # cgan_grid25's recipe with batch 128 and 14k steps (sngan_grid25.yaml's header: batch 64 and 7k left bridges)
    ("sngan", "grid25"): {"z_dim": 2, "batch_size": 128, "g_lr": 1e-3, "d_lr": 1e-3, "n_critic": 5, "r1_gamma": 1.0,
                          "r1_every": 4, "r1_decay": True, "lr_decay": True, "ema_beta": 0.99, "total_steps": 14000},
    # the WGAN-GP authors' own 2-D toy penalty (wgan_gp_ring8.yaml's header)
    ("wgan_gp", "ring8"): {"z_dim": 2, "gp_weight": 0.1, "g_lr": 5e-4, "d_lr": 5e-4, "n_critic": 5, "lr_decay": True,
                           "ema_beta": 0.99, "total_steps": 5000},
    # the same penalty with batch 128 and both lrs doubled (wgan_gp_grid25.yaml's header: 5e-4 left bridges)
    ("wgan_gp", "grid25"): {"z_dim": 2, "batch_size": 128, "gp_weight": 0.1, "g_lr": 1e-3, "d_lr": 1e-3, "n_critic": 5,
                            "lr_decay": True, "ema_beta": 0.99, "total_steps": 8000},
}

# what makes each agent itself: a preset may tune everything else, not these
DEFINING: dict[str, dict[str, object]] = {
    "dcgan": {"loss": "bce", "beta1": 0.5, "beta2": 0.999, "spectral_norm": False, "gp_weight": 0.0},
    "wgan_gp": {"loss": "wasserstein", "spectral_norm": False},  # and a gradient penalty (> 0), below
    "sngan": {"loss": "hinge", "spectral_norm": True, "gp_weight": 0.0},
    "cgan": {"loss": "hinge", "spectral_norm": True, "conditional": True},
}


@pytest.mark.parametrize(("agent", "data"), sorted(PRESETS))
def test_preset_composes_with_its_values(agent: str, data: str) -> None:
    assert (ROOT / "conf" / "agent_data" / f"{agent}_{data}.yaml").is_file()
    cfg = compose(["wandb.mode=disabled", f"agent={agent}", f"data={data}"])
    assert cfg.agent.name == agent and cfg.data.name == data
    expected = dict(PRESETS[agent, data])
    assert cfg.trainer.total_steps == expected.pop("total_steps")
    assert {key: cfg.agent[key] for key in expected} == expected
    assert {key: cfg.agent[key] for key in DEFINING[agent]} == DEFINING[agent]
    if agent == "wgan_gp":
        assert cfg.agent.gp_weight > 0  # its weight is tuned (the paper: 10 on images, 0.1 on 2-D toys)


@pytest.mark.parametrize(("agent", "data"), sorted(PRESETS))
def test_command_line_wins_over_the_preset(agent: str, data: str) -> None:
    cfg = compose(["wandb.mode=disabled", f"agent={agent}", f"data={data}", "agent.z_dim=7",
                   "trainer.total_steps=5"])
    assert cfg.agent.z_dim == 7 and cfg.trainer.total_steps == 5

