"""GANs (agents/gan.py): losses by hand, every preset end to end, exact resume, precision and
compile, media, and (slow) mode coverage of the ring of 8 Gaussians."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import compose, train
from torch import nn

from lab.core import checkpoint as ckpt
from lab.core.rng import Seeds

TINY = ["trainer.total_steps=8", "trainer.eval_every=4", "trainer.log_every=0", "trainer.checkpoint_every=0",
        "agent.batch_size=16", "agent.eval_samples=200"]
SMALL_MLP = ["agent.g_hidden=[32,32]", "agent.d_hidden=[32,32]", "agent.z_dim=8"]
SMALL_DCGAN = ["data.image_size=8", "agent.g_channels=8", "agent.d_channels=8", "agent.z_dim=16"]


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path_factory) -> None:
    """Keep FID's extractor cache in one place per session."""
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "lab_cache"))


def _lines(run: Path) -> list[dict]:
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------------------- numerics
def test_losses_match_hand_computed_values() -> None:
    from agents.gan import d_loss, g_loss

    r, f = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 0.5])
    sp = lambda x: math.log1p(math.exp(x))
    assert d_loss("bce", r, f).item() == pytest.approx((sp(-2) + sp(0)) / 2 + (sp(-1) + sp(0.5)) / 2)
    assert g_loss("bce", f).item() == pytest.approx((sp(1) + sp(-0.5)) / 2)
    assert d_loss("hinge", r, f).item() == pytest.approx((0 + 1) / 2 + (0 + 1.5) / 2)
    assert g_loss("hinge", f).item() == pytest.approx(0.25)
    assert d_loss("wasserstein", r, f).item() == pytest.approx(-0.25 - 1.0)
    assert d_loss("mse", r, f).item() == pytest.approx(0.5 * ((1 + 1) / 2 + (1 + 0.25) / 2))
    assert g_loss("mse", f).item() == pytest.approx(0.5 * (4 + 0.25) / 2)


def test_packing_stacks_consecutive_samples() -> None:
    from agents.gan import pack

    x = torch.arange(12.0).view(6, 2)
    assert pack(x, 2).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    images = torch.randn(4, 1, 8, 8)
    assert pack(images, 2).shape == (2, 2, 8, 8) and torch.equal(pack(images, 2)[1, 1], images[3, 0])


def test_ema_follows_the_generator_with_warm_up() -> None:
    from agents.gan import build
    from envs.data import make_dataset

    cfg = compose(["agent=gan", *SMALL_MLP, "agent.ema_beta=0.9"])
    from omegaconf import OmegaConf

    gan = build(make_dataset("ring8"), OmegaConf.to_object(cfg.agent), torch.device("cpu"), Seeds(0))
    before = [p.clone() for p in gan.G_ema.parameters()]
    with torch.no_grad():
        for p in gan.G.parameters():
            p.add_(1.0)
    gan._update_ema()  # first update: beta = min(0.9, 2/11)
    for b, p in zip(before, gan.G_ema.parameters()):
        torch.testing.assert_close(p, b + (1 - 2 / 11))


def test_g_ema_samples_with_batch_norm_statistics_of_its_own() -> None:
    from omegaconf import OmegaConf

    from agents.gan import build
    from envs.data import make_dataset

    cfg = compose(["agent=dcgan", *SMALL_DCGAN])
    gan = build(make_dataset("digits", image_size=8), OmegaConf.to_object(cfg.agent), torch.device("cpu"), Seeds(0))
    with torch.no_grad():
        gan.G_ema.fc.weight.mul_(3.0)  # G_ema's first layer is no longer G's
    rng, g_buffers = gan.generator.get_state(), [b.clone() for b in gan.G.buffers()]
    gan.sample(16)
    # the first BN's statistics are those of G_ema's own first layer on 4 batches of 256 fixed z
    g = torch.Generator().manual_seed(gan.eval_seed + 2)
    with torch.no_grad():
        h = [gan.G_ema.fc(torch.randn(256, 16, generator=g)).view(256, -1, 16) for _ in range(4)]
    bn = gan.G_ema.norms[0].bn
    torch.testing.assert_close(bn.running_mean, torch.stack([x.mean(dim=(0, 2)) for x in h]).mean(0))
    torch.testing.assert_close(bn.running_var, torch.stack([x.transpose(0, 1).reshape(len(x[0]), -1).var(dim=1)
                                                            for x in h]).mean(0))
    assert all(torch.equal(a, b) for a, b in zip(g_buffers, gan.G.buffers()))  # G's are untouched
    assert torch.equal(gan.generator.get_state(), rng)  # and so is the run's RNG
    # measured once per G step: the next sample at this step reuses them, the next step remeasures
    with torch.no_grad():
        gan.G_ema.fc.weight.mul_(2.0)
    mean = bn.running_mean.clone()
    gan.sample(16)
    assert torch.equal(bn.running_mean, mean)
    gan._update_ema()
    gan.sample(16)
    assert not torch.allclose(bn.running_mean, mean)


def test_lazy_r1_penalises_every_kth_d_step_scaled_by_k() -> None:
    """agent.r1_every=k: D steps 0, k, 2k... carry k * gamma/2 |grad D(real)|^2, the others none;
    agent.r1_decay scales gamma by D's current learning-rate factor."""
    from omegaconf import OmegaConf

    from agents.gan import build
    from envs.data import make_dataset
    from lab.core.learner import Phase
    from lab.core.rng import Seeds

    source = make_dataset("ring8")

    def d_loss_at(step: int, *over: str, lr_scale: float = 1.0) -> tuple[float, float | None]:
        torch.manual_seed(0)
        gan = build(source, OmegaConf.to_object(compose(["agent=gan", *SMALL_MLP, *over]).agent), torch.device("cpu"),
                    Seeds(0))
        gan.opt_D.param_groups[0]["lr"] *= lr_scale
        gan.ema_updates = step
        batch, _ = gan.collect(source)
        phase = Phase("discriminator", gan.opt_D, list(gan.D.parameters()), None)
        loss = next(iter(gan.losses(phase, batch))).item()
        return loss, gan.log_metrics().get("loss/r1")

    plain, no_r1 = d_loss_at(0, "agent.r1_gamma=0")  # (the ring8 preset has R1 0.01)
    assert no_r1 is None
    eager, r1 = d_loss_at(0, "agent.r1_gamma=0.5")
    assert r1 > 0 and eager == pytest.approx(plain + 0.5 * 0.5 * r1, rel=1e-5)
    for step in range(7):
        lazy, logged = d_loss_at(step, "agent.r1_gamma=0.5", "agent.r1_every=3")
        if step % 3:
            assert lazy == pytest.approx(plain, rel=1e-6) and logged is None, step
        else:
            assert lazy == pytest.approx(plain + 3 * 0.5 * 0.5 * r1, rel=1e-5) and logged == pytest.approx(r1)
    decayed, _ = d_loss_at(0, "agent.r1_gamma=0.5", "agent.r1_decay=true", lr_scale=0.25)
    assert decayed == pytest.approx(plain + 0.25 * 0.5 * 0.5 * r1, rel=1e-5)


@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_dcgan_adapts_to_image_size_and_channels(size: int) -> None:
    from agents.gan_networks import DCGANDiscriminator, DCGANGenerator

    for channels in (1, 3):
        G = DCGANGenerator(16, channels, size, 4, "relu", num_classes=10)
        D = DCGANDiscriminator(channels, size, 4, "leaky_relu", num_classes=10, sn=True)
        y = torch.tensor([0, 9])
        x = G(torch.randn(2, 16), y)
        assert x.shape == (2, channels, size, size) and x.abs().max() <= 1
        assert D(x, y).shape == (2,)
    with pytest.raises(ValueError, match="image_size"):
        DCGANGenerator(16, 1, 28, 4, "relu", None)


# ---------------------------------------------------------------------------- every preset runs
IMAGE_METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")
PRESETS = [
    ("gan", ["data=ring8", *SMALL_MLP], "mixture"),
    ("gan", ["data=grid25", *SMALL_MLP, "agent.pack=2"], "mixture"),
    ("dcgan", SMALL_DCGAN, "images"),
    ("wgan_gp", [*SMALL_DCGAN, "agent.n_critic=2"], "images"),
    ("sngan", [*SMALL_DCGAN, "agent.r1_gamma=1.0"], "images"),
    ("cgan", SMALL_DCGAN, "images"),
    ("cgan", ["data=ring8", *SMALL_MLP, "agent.loss=mse"], "mixture"),
]


@pytest.mark.parametrize("agent,extra,kind", PRESETS, ids=[f"{a}-{'-'.join(e[:1])}" for a, e, _ in PRESETS])
def test_every_preset_trains_and_reports_its_metrics(agent: str, extra: list[str], kind: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = train([f"agent={agent}", *TINY, *extra], run)
    assert result["completed"] and result["steps"] == 8
    if kind == "mixture":
        keys = ["eval/modes", "eval/hq_fraction", "eval/reverse_kl"]
    else:  # each image metric beside what held-out real images score; conditional: diversity too
        keys = [f"eval/{real}{m}" for real in ("", "real_") for m in IMAGE_METRICS]
        if agent == "cgan":
            keys += ["eval/class_diversity", "eval/real_class_diversity"]
    evals = [l for l in _lines(run) if keys[0] in l]
    assert [l["step"] for l in evals] == [4, 8]
    for line in evals:
        assert sorted(k for k in line if k.startswith("eval/") and k != "eval/mode_histogram") == sorted(
            keys + (["eval/score"] if kind == "mixture" else []))
    assert all(k[5:] in result["final"] for k in keys)
    if kind == "images":  # the real baseline is computed once per run
        assert all(evals[0][k] == evals[1][k] for k in keys if k.startswith("eval/real_"))
    assert any("loss/d" in l and "loss/g" in l for l in _lines(run))
    if kind == "mixture":
        assert len(result["final"]["mode_histogram"]) == (8 if "data=ring8" in extra else 25)
    else:
        assert result["final"]["fid"] > 0 and result["best_eval"] == min(l["eval/fid"] for l in evals)
    assert (run / "checkpoints" / "best.pt").is_file()
    media = run / "media"
    assert (media / "samples_000000004.png").is_file() and (media / "samples_000000008.png").is_file()
    assert (media / "evolution.gif").is_file() and (media / "interpolation.mp4").is_file()


class _OnePerClass(nn.Module):
    """A conditional "generator" that ignores its noise: the same real image for each class."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        super().__init__()
        self.prototypes = torch.stack([images[labels == c][0] for c in range(10)])

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.prototypes[y]


class _RealPerClass(nn.Module):
    """A conditional "generator" as diverse as the data: z picks one of the real images of class y."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        super().__init__()
        self.images, self.labels = images, labels

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        u = torch.special.ndtr(z[:, 0])  # uniform in (0, 1) for z ~ N(0, 1)
        out = []
        for u_i, y_i in zip(u, y):
            pool = self.images[self.labels == y_i]
            out.append(pool[min(int(u_i * len(pool)), len(pool) - 1)])
        return torch.stack(out)


def test_image_evaluation_sees_a_generator_that_ignores_its_noise() -> None:
    from lab import run as lab_run

    cfg = compose(["wandb.mode=disabled", "agent=cgan", "data=digits"])
    source = lab_run.build_source(cfg)
    learner = lab_run.build_learner(cfg, source, torch.device("cpu"))
    images, labels = source.get(torch.arange(len(source)))
    learner.G_ema = _OnePerClass(images, labels)
    collapsed = learner.evaluate(source).metrics
    learner.G_ema = _RealPerClass(images, labels)
    diverse = learner.evaluate(source).metrics
    real = {k[5:]: v for k, v in collapsed.items() if k.startswith("real_")}
    assert real == {k[5:]: v for k, v in diverse.items() if k.startswith("real_")}  # computed once
    # held-out real digits against the reference digits (898 each): what good is
    assert min(real["precision"], real["recall"], real["coverage"]) > 0.9 and 0.8 < real["density"] < 1.2
    # one image per class: real-looking (precision), but nothing of each class's variety
    assert collapsed["class_diversity"] == 0.0 and collapsed["recall"] < 0.1
    assert collapsed["coverage"] < 0.3 * real["coverage"] and collapsed["precision"] > 0.9
    # real digits drawn by z: scored as real images are
    assert diverse["class_diversity"] == pytest.approx(real["class_diversity"], rel=0.1)
    assert diverse["recall"] > 0.9 and diverse["coverage"] > 0.9 and diverse["fid"] < 0.1 * collapsed["fid"]


def test_conditional_gan_needs_labels(tmp_path: Path) -> None:
    from PIL import Image

    from lab.core.errors import LabError

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.new("L", (8, 8), color=i * 60).save(folder / f"{i}.png")
    with pytest.raises(LabError, match="labelled"):
        train(["agent=cgan", "data=image_folder", f"data.root={folder}", *TINY, *SMALL_DCGAN], tmp_path / "run")


def test_too_few_evaluation_samples_is_one_line_at_start(tmp_path: Path) -> None:
    from lab.core.errors import LabError

    with pytest.raises(LabError, match=r"more than 5 held-out real images: agent.eval_samples=5, and digits has 1797"):
        train(["agent=dcgan", *TINY, *SMALL_DCGAN, "agent.eval_samples=5"], tmp_path / "run")


def test_compile_with_a_penalty_is_refused_at_start() -> None:
    from lab.config import validate

    error = validate(compose(["agent=wgan_gp", "trainer.compile=true"]))
    assert error and "trainer.compile" in error and "gp_weight" in error


# ---------------------------------------------------------------------------- exact resume
def _stop_at(step: int):
    def hook(trainer) -> None:
        if trainer.step >= step:
            trainer.request_stop("test: interrupted")
    return hook


def _strip(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in l.items() if k != "time_s" and not k.startswith("perf/")} for l in lines]


@pytest.mark.parametrize("agent,extra", [
    ("gan", ["data=ring8", *SMALL_MLP, "agent.pack=2", "agent.lr_decay=true", "agent.r1_gamma=0.1",
             "agent.r1_every=3", "agent.r1_decay=true"]),  # resumes at step 8: between two lazy R1 steps
    ("wgan_gp", [*SMALL_DCGAN, "agent.n_critic=2", "agent.conditional=true"]),
    ("wgan_gp", ["data=mario_levels", "data.levels=[intro,pits]", "data.eval_windows=8", "data.eval_levels=2",
                 "agent.g_channels=8", "agent.d_channels=8", "agent.z_dim=16", "agent.n_critic=2"]),  # level GAN
], ids=["gan-ring8", "wgan_gp-digits", "wgan_gp-mario_levels"])
def test_half_resume_half_equals_one_go(agent: str, extra: list[str], tmp_path: Path) -> None:
    over = [f"agent={agent}", *extra, "trainer.total_steps=16", "trainer.eval_every=4", "trainer.log_every=2",
            "trainer.checkpoint_every=0", "agent.batch_size=16", "agent.eval_samples=200"]
    one = train(over, tmp_path / "one")
    first = train(over, tmp_path / "two", hooks={"on_tick": [_stop_at(8)]})
    assert first["status"] == "stopped" and first["steps"] == 8
    second = train(over + ["trainer.resume=auto"], tmp_path / "two")
    assert one["completed"] and second["completed"]
    w1 = ckpt.load(tmp_path / "one" / "checkpoints" / "last.pt")["learner"]
    w2 = ckpt.load(tmp_path / "two" / "checkpoints" / "last.pt")["learner"]
    for net in ("G", "D", "G_ema"):
        assert w1[net].keys() == w2[net].keys()
        for k in w1[net]:
            assert torch.equal(w1[net][k], w2[net][k]), (net, k)
    assert torch.equal(w1["generator"], w2["generator"])
    assert _strip(_lines(tmp_path / "one")) == _strip(_lines(tmp_path / "two"))
    assert one["final"] == second["final"]


# ---------------------------------------------------------------------------- precision, compile, GPU
def test_bf16_runs_on_cpu(tmp_path: Path) -> None:
    result = train(["agent=dcgan", *TINY, *SMALL_DCGAN, "trainer.precision=bf16"], tmp_path / "run")
    assert result["completed"] and math.isfinite(result["final"]["fid"])


def test_compile_runs_on_cpu(tmp_path: Path) -> None:
    result = train(["agent=gan", "data=ring8", *TINY, *SMALL_MLP, "trainer.total_steps=2", "trainer.eval_every=0",
                    "trainer.compile=true", "agent.r1_gamma=0"], tmp_path / "run")  # the preset's R1 needs eager
    assert result["completed"] and "modes" in result["final"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_on_gpu(tmp_path: Path) -> None:
    for agent, extra in (("dcgan", SMALL_DCGAN), ("wgan_gp", SMALL_DCGAN), ("gan", ["data=ring8"])):
        result = train([f"agent={agent}", *TINY, *extra, "trainer.device=cuda", "trainer.precision=fp16",
                        "trainer.total_steps=32", "trainer.eval_every=16"], tmp_path / agent)
        assert result["completed"], agent
        state = ckpt.load(tmp_path / agent / "checkpoints" / "last.pt")
        assert set(state["scalers"]) == {"discriminator", "generator"}


# ---------------------------------------------------------------------------- learning (slow)
@pytest.mark.slow
def test_best_preset_covers_the_ring_of_8(tmp_path: Path) -> None:
    # conf/agent_data/gan_ring8.yaml as it is (12k generator steps with R1, ~190 s of one CPU core);
    # the bar per run: all 8 modes and >= 95% of samples within 3 std of a mode (PacGAN)
    result = train(["agent=gan", "data=ring8", "seed=0", "trainer.eval_every=6000"], tmp_path / "run")
    assert result["completed"]
    assert result["final"]["modes"] == 8 and result["final"]["hq_fraction"] >= 0.95


@pytest.mark.slow
def test_best_preset_covers_the_grid_of_25(tmp_path: Path) -> None:
    # conf/agent_data/gan_grid25.yaml as it is (16k generator steps, batch 128, fading lazy R1,
    # ~230 s of one CPU core); the bar per run: all 25 modes and >= 90% high quality (PacGAN)
    result = train(["agent=gan", "data=grid25", "seed=0", "trainer.eval_every=8000"], tmp_path / "run")
    assert result["completed"]
    assert result["final"]["modes"] == 25 and result["final"]["hq_fraction"] >= 0.90


@pytest.mark.slow
def test_cgan_digits_preset_draws_variety_within_each_class(tmp_path: Path) -> None:
    # conf/agent_data/cgan_digits.yaml as it is (1,500 generator steps, ~4 minutes of one CPU core);
    # issue 13's bar: FID at most 1/20 of the untrained generator's; recall, coverage and
    # within-class diversity at least half of what held-out real digits score
    from lab import run as lab_run
    from lab.core.runtime import configure

    over = ["agent=cgan", "data=digits", "seed=0", "trainer.eval_every=1500"]
    cfg = compose(["wandb.mode=disabled", *over])
    configure(cfg.seed, cfg.trainer.threads, False)  # the generator the run starts from
    source = lab_run.build_source(cfg)
    fid_init = lab_run.build_learner(cfg, source, torch.device("cpu")).evaluate(source).metrics["fid"]
    result = train(over, tmp_path / "run")
    assert result["completed"]
    final = result["final"]
    assert final["fid"] <= fid_init / 20
    for metric in ("recall", "coverage", "class_diversity"):
        assert final[metric] >= 0.5 * final[f"real_{metric}"], metric
