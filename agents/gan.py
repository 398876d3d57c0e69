"""Generative adversarial networks (Goodfellow et al. 2014, arXiv:1406.2661) and the variants
the presets name: DCGAN, WGAN-GP, SNGAN, conditional GANs, PacGAN, LSGAN, R1.

Read top to bottom in paper order: the generator G(z) and discriminator D(x) (MLP for 2-D
points, DCGAN for images), the adversarial losses, then training as two phases, D first:

    D: n_critic steps of  L_D = loss(D(x_real), D(G(z)))  [+ lambda GP] [+ gamma/2 R1]
    G: one step of        L_G = loss_G(D(G(z)))
    G_ema <- beta G_ema + (1 - beta) G                     (samples and metrics use G_ema,
                                                            with batch-norm statistics of its own)

One trainer step is one generator step. Every random draw of a tick (real batches, z, labels,
interpolation weights) is made in `collect` from the learner's own torch.Generator, seeded
from torch's RNG at construction and saved in checkpoints, so a resumed run is exact.

    python -m lab agent=dcgan               # digits;  agent=gan: 2-D ring of 8 Gaussians
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.config import GANConfig
from agents.gan_networks import make_networks
from agents.networks import make_adam
from lab.core.learner import Evaluation, Learner, Mean, Phase
from lab.core.rng import Seeds, generator_state, set_generator_state


# ---------------------------------------------------------------------- the adversarial losses
def d_loss(kind: str, d_real: Tensor, d_fake: Tensor) -> Tensor:
    """The discriminator's loss on real and fake logits/critic values (lower is better for D)."""
    if kind == "bce":  # -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    if kind == "hinge":
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
    if kind == "wasserstein":
        return d_fake.mean() - d_real.mean()
    if kind == "mse":  # LSGAN's a=0, b=c=1 coding
        return 0.5 * ((d_real - 1.0).square().mean() + d_fake.square().mean())
    raise ValueError(f"unknown GAN loss {kind!r}")


def g_loss(kind: str, d_fake: Tensor) -> Tensor:
    """The generator's loss; bce is the non-saturating -log sigmoid(D(G(z)))."""
    if kind == "bce":
        return F.softplus(-d_fake).mean()
    if kind in ("hinge", "wasserstein"):
        return -d_fake.mean()
    if kind == "mse":
        return 0.5 * (d_fake - 1.0).square().mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def pack(x: Tensor, m: int) -> Tensor:
    """PacGAN: m consecutive samples become one input of D (stacked features / channels)."""
    return x if m == 1 else x.reshape(len(x) // m, m * x.shape[1], *x.shape[2:])


def cache_dir() -> Path:
    """Where the feature extractor for FID is cached: $LAB_CACHE_DIR or ~/.cache/lab."""
    return Path(os.environ.get("LAB_CACHE_DIR", "~/.cache/lab")).expanduser() / "extractors"


# ---------------------------------------------------------------------- the learner
class GAN(Learner):
    """Two phases, 'discriminator' (n_critic steps) then 'generator' (one step), per tick."""

    step_unit = "G steps"

    def __init__(self, source: Any, cfg: GANConfig, device: torch.device, seeds: Seeds) -> None:
        self.cfg, self.device = cfg, device
        self.kind, self.shape = source.kind, tuple(source.shape)
        self.num_classes = source.num_classes if cfg.conditional else None
        if cfg.conditional and source.num_classes is None:
            raise ValueError("agent.conditional=true needs labelled data; this data set has no labels")
        self.arch = cfg.arch if cfg.arch != "auto" else ("mlp" if self.kind == "points" else "dcgan")
        # level maps (data=mario_levels): G gives a distribution over tile/enemy codes per cell, and
        # the data source judges (plays) and draws what G makes
        self.levels = source if self.kind == "levels" else None
        with seeds.init("gan/init"):  # the initial weights: their own stream of the run seed
            G, D = make_networks(self.arch, self.shape, cfg.z_dim, self.num_classes, cfg.pack, cfg,
                                 output=cfg.level_output if self.levels is not None else "tanh")
        self.G, self.D = G.to(device), D.to(device)
        # G_ema: the exponential moving average of G's weights (Karras et al. 2018; Yazici et al.
        # 2019); it draws every sample the run shows and every metric it reports
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.ema_updates = 0
        betas = (cfg.beta1, cfg.beta2)
        self.opt_G = make_adam(self.G.parameters(), cfg.g_lr, device, eps=1e-8, betas=betas)
        self.opt_D = make_adam(self.D.parameters(), cfg.d_lr, device, eps=1e-8, betas=betas)
        # the learner's own RNG for data, z and labels: a stream of the run seed, saved in checkpoints
        self.generator = seeds.torch("gan/batches")
        self.eval_seed = seeds.derive("gan/eval")  # fixed z for samples, grids and metrics
        self.stats = Mean()
        self.images_seen = 0  # real samples shown to D
        self.rows: slice | None = None  # data-parallel share of each batch (set_data_parallel)
        if self.kind == "points":
            self.modes, self.std = source.modes, source.std
        elif self.kind == "images":
            from agents.gan_metrics import PRDC_K

            # evaluation scores as many fakes as there are held-out real images (min(eval_samples,
            # half the data set)); the k-NN metrics need more than k of them: say so now, not at step N
            if min(cfg.eval_samples, len(source) // 2) <= PRDC_K:
                raise ValueError(f"image metrics need more than {PRDC_K} held-out real images: agent.eval_samples="
                                 f"{cfg.eval_samples}, and {source.name} has {len(source)} images (half are held out)")
        self._evaluator: Any = None  # agents.gan_metrics.ImageEvaluator, built at the first evaluation
        self._stats_step: int | None = None  # the G step G_ema's batch-norm statistics were measured at

    # ------------------------------------------------------------------ the contract
    def phases(self) -> list[Phase]:
        schedule = (lambda progress: max(1.0 - progress, 0.0)) if self.cfg.lr_decay else None
        return [Phase("discriminator", self.opt_D, list(self.D.parameters()), self.cfg.max_grad_norm,
                      lr_schedule=schedule),
                Phase("generator", self.opt_G, list(self.G.parameters()), self.cfg.max_grad_norm,
                      lr_schedule=schedule)]

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.G, "discriminator": self.D}

    def _z(self, *shape: int) -> Tensor:
        return torch.randn(*shape, self.cfg.z_dim, generator=self.generator)

    def _labels(self, *shape: int) -> Tensor | None:
        if self.num_classes is None:
            return None
        return torch.randint(self.num_classes, shape, generator=self.generator)

    # ------------------------------------------------------------------ 1. a tick's random draws
    def collect(self, source: Any) -> tuple[dict[str, Tensor | None], int]:
        """n_critic real batches and every z, label and GP weight the tick uses; counts 1 step."""
        cfg, k, B = self.cfg, self.cfg.n_critic, self.cfg.batch_size
        x, y = source.sample(k * B, self.generator)
        batch = {"x": x.float().view(k, B, *self.shape), "y": None if self.num_classes is None else y.view(k, B),
                 "z_d": self._z(k, B), "y_d": self._labels(k, B), "z_g": self._z(B), "y_g": self._labels(B),
                 "eps": torch.rand(k, B // cfg.pack, generator=self.generator) if cfg.gp_weight > 0 else None}
        self.images_seen += k * B
        if self.rows is not None:  # data-parallel: this process's rows of the same global batch
            r = self.rows
            cuts = {"z_g": (r,), "y_g": (r,), "eps": (slice(None), slice(r.start // cfg.pack, r.stop // cfg.pack))}
            batch = {name: t if t is None else t[cuts.get(name, (slice(None), r))] for name, t in batch.items()}
        return {name: t if t is None else t.to(self.device, non_blocking=True) for name, t in batch.items()}, 1

    def set_data_parallel(self, rank: int, world: int) -> None:
        """Train on rows rank/world of each global batch (lab/core/distributed.py averages the gradients)."""
        from lab.core.distributed import shard

        if self.cfg.batch_size % (world * self.cfg.pack):
            raise ValueError(f"agent.batch_size={self.cfg.batch_size} must split into {world} processes' "
                             f"shares that are multiples of agent.pack={self.cfg.pack}")
        self.rows = shard(rank, world, self.cfg.batch_size)

    def losses(self, phase: Phase, batch: dict[str, Tensor | None]) -> Iterator[Tensor]:
        if phase.name == "discriminator":
            yield from self._discriminator_losses(batch)
        else:
            yield from self._generator_losses(batch)

    # ------------------------------------------------------------------ 2. the discriminator
    def _discriminator_losses(self, batch: dict[str, Tensor | None]) -> Iterator[Tensor]:
        cfg, m = self.cfg, self.cfg.pack
        for i in range(cfg.n_critic):
            # lazy R1 (StyleGAN2): every r1_every-th D step, scaled by r1_every, so the penalty's
            # average pull is unchanged and its double backward runs 1/r1_every as often. The D
            # step's index comes from the saved G-step count, so resumed runs penalise the same steps.
            r1_gamma = cfg.r1_gamma * cfg.r1_every if (self.ema_updates * cfg.n_critic + i) % cfg.r1_every == 0 else 0.0
            if cfg.r1_decay:  # follow D's learning-rate schedule (the trainer set this phase's lr)
                r1_gamma *= self.opt_D.param_groups[0]["lr"] / cfg.d_lr
            real = batch["x"][i]
            y_real = None if batch["y"] is None else batch["y"][i]
            y_fake = None if batch["y_d"] is None else batch["y_d"][i]
            with torch.no_grad():
                fake = self.G(batch["z_d"][i], y_fake).float()
            # real and fake through D in one pass: half the per-op overhead, and one spectral-
            # norm power iteration per step (D has no batch norm, so they cannot interact)
            x = torch.cat([real, fake])
            if r1_gamma > 0:
                x.requires_grad_(True)
            labels = None if y_real is None else torch.cat([y_real, y_fake])
            out = self.D(pack(x, m), labels).float()
            d_real, d_fake = out[: len(out) // 2], out[len(out) // 2:]
            loss = d_loss(cfg.loss, d_real, d_fake)
            gp = torch.zeros((), device=self.device)
            if cfg.gp_weight > 0:
                gp = self._gradient_penalty(pack(real, m), pack(fake, m), batch["eps"][i], y_real)
                loss = loss + cfg.gp_weight * gp
            if r1_gamma > 0:
                (grad,) = torch.autograd.grad(d_real.sum(), x, create_graph=True)
                r1 = grad[: len(real)].float().square().flatten(1).sum(1).mean()
                loss = loss + 0.5 * r1_gamma * r1
                self.stats.add("r1", r1.detach().view(1))  # averaged over the steps that computed it
            self.stats.add("d", torch.stack([loss.detach(), d_real.detach().mean(), d_fake.detach().mean(),
                                             gp.detach()]))
            yield loss

    def _gradient_penalty(self, real: Tensor, fake: Tensor, eps: Tensor, y: Tensor | None) -> Tensor:
        """WGAN-GP: E[(|grad_x D(x_hat)| - 1)^2] at x_hat = eps x_real + (1 - eps) x_fake."""
        eps = eps.view(-1, *([1] * (real.ndim - 1)))
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.D(x_hat, y).float().sum(), x_hat, create_graph=True)
        return (grad.float().flatten(1).norm(dim=1) - 1.0).square().mean()

    # ------------------------------------------------------------------ 3. the generator, its EMA
    def _generator_losses(self, batch: dict[str, Tensor | None]) -> Iterator[Tensor]:
        self.D.requires_grad_(False)  # G's step needs no gradients of D's weights
        try:
            fake = self.G(batch["z_g"], batch["y_g"])
            loss = g_loss(self.cfg.loss, self.D(pack(fake, self.cfg.pack), batch["y_g"]).float())
            self.stats.add("g", loss.detach().view(1))
            yield loss
        finally:
            self.D.requires_grad_(True)
        self._update_ema()  # runs after the trainer's optimizer step

    @torch.no_grad()
    def _update_ema(self) -> None:
        self.ema_updates += 1
        if self.cfg.ema_beta == 0:
            beta = 0.0
        else:  # warm-up: early on, average over the steps so far rather than the initial weights
            beta = min(self.cfg.ema_beta, (1 + self.ema_updates) / (10 + self.ema_updates))
        ema, now = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema, now, 1.0 - beta)
        # G_ema's batch-norm statistics are not G's: _standing_stats measures them before sampling

    @torch.no_grad()
    def _standing_stats(self, batches: int = 4, batch_size: int = 256) -> None:
        """Measure G_ema's batch-norm statistics on its own activations ("standing statistics",
        Brock et al. 2019), once per G step that samples. G's running statistics belong to G's
        weights; on G_ema's averaged weights they mis-scale every layer (digits, seed 0, FID with
        G's statistics -> G_ema's own: cgan 2.98 -> 1.96, dcgan 7.96 -> 4.59). 1,024 samples: 256 or
        4,096 give the same FID within 0.1. Fixed z and labels from a generator of its own: no RNG
        of the run is touched, so training is unchanged."""
        norms = [m for m in self.G_ema.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
        if not norms or self._stats_step == self.ema_updates:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # None: a plain average over the batches below
        g = torch.Generator().manual_seed(self.eval_seed + 2)
        self.G_ema.train()
        try:
            for _ in range(batches):
                z = torch.randn(batch_size, self.cfg.z_dim, generator=g).to(self.device)
                y = None if self.num_classes is None else (torch.arange(batch_size) % self.num_classes).to(self.device)
                self.G_ema(z, y)
        finally:
            self.G_ema.eval()
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
        self._stats_step = self.ema_updates

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, labels: Tensor | None = None) -> Tensor:
        """n samples of G_ema (float32, on the CPU) from z drawn with `seed` (default: the
        learner's fixed evaluation seed, so the same z every call). Conditional: labels cycle
        over the classes unless given."""
        g = torch.Generator().manual_seed(self.eval_seed if seed is None else seed)
        z = torch.randn(n, self.cfg.z_dim, generator=g)
        return self.generate(z, labels)

    @torch.no_grad()
    def generate(self, z: Tensor, labels: Tensor | None = None, batch_size: int = 500) -> Tensor:
        """G_ema(z, labels) in batches; float32 on the CPU."""
        self._standing_stats()
        if self.num_classes is not None and labels is None:
            labels = torch.arange(len(z)) % self.num_classes
        out = []
        for s in range(0, len(z), batch_size):
            y = None if labels is None else labels[s:s + batch_size].to(self.device)
            out.append(self.G_ema(z[s:s + batch_size].to(self.device), y).float().cpu())
        return torch.cat(out)

    def media_samples(self, seed: int | None = None) -> dict[str, Any]:
        """What agents.gan_media draws at each evaluation (z from the fixed evaluation seed, or
        `seed`): a sample grid (images) or a scatter plot (points)."""
        if self.kind == "points":
            return {"points": self.sample(self.cfg.eval_samples, seed), "modes": self.modes, "std": self.std}
        if self.levels is not None:  # drawn with the game's art, and as level text
            maps = self.sample(16, seed)
            return {"images": self.levels.render(maps), "nrow": 4, "texts": self.levels.texts(maps)}
        n = 10 * self.num_classes if self.num_classes else 64
        labels = None if self.num_classes is None else torch.arange(n) // 10  # one row per class
        return {"images": self.sample(n, seed, labels=labels), "nrow": 10 if self.num_classes else 8}

    def interpolation(self, anchors: int = 8, frames: int = 12, rows: int | None = None, seed: int | None = None) -> Tensor:
        """Frames (T, rows, ...) walking G_ema along great circles (slerp) through `anchors` latent
        points per row, looping back to the first: the latent-space video of the run (its anchors
        from the evaluation seed + 1, or `seed`)."""
        rows = rows or (4 if self.levels is not None else 8)  # level windows are wide
        g = torch.Generator().manual_seed(self.eval_seed + 1 if seed is None else seed)
        keys = torch.randn(anchors, rows, self.cfg.z_dim, generator=g)
        keys = torch.cat([keys, keys[:1]])
        t = torch.arange(frames, dtype=torch.float32) / frames
        zs = torch.cat([_slerp(keys[i], keys[i + 1], t) for i in range(anchors)])  # (anchors*frames, rows, z)
        labels = None if self.num_classes is None else (torch.arange(rows) % self.num_classes).repeat(len(zs))
        out = self.generate(zs.reshape(-1, self.cfg.z_dim), labels)
        if self.levels is not None:
            out = self.levels.render(out, scale=4)
        return out.view(len(zs), rows, *out.shape[1:])

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, source: Any) -> Evaluation:
        """Mixtures: PacGAN's modes / high-quality share / reverse KL. Images: FID, KID, precision,
        recall, density, coverage (k=5) in the features of the data set's own small classifier,
        each beside `real_<metric>`, what held-out real images score; conditional GANs add
        `class_diversity` (0: one image per class whatever z) and `real_class_diversity`."""
        n = self.cfg.eval_samples
        if self.levels is not None:  # the data source plays and measures what G makes (fixed z)
            return self.levels.judge(lambda count: self.generate(
                torch.randn(count, self.cfg.z_dim, generator=torch.Generator().manual_seed(self.eval_seed))))
        if self.kind == "points":
            from agents.gan_metrics import mixture_metrics

            m = mixture_metrics(self.sample(n), self.modes, self.std)
            metrics = {"modes": m.modes_captured, "hq_fraction": m.high_quality, "reverse_kl": m.reverse_kl,
                       "score": m.modes_captured + m.high_quality, "mode_histogram": m.histogram}
            # the score: modes captured, then the high-quality share (in [0, 1]) breaks ties
            return Evaluation(metrics, score="score", summary=f"{m.modes_captured} of {len(self.modes)} modes, "
                              f"{100 * m.high_quality:.1f}% high quality, reverse KL {m.reverse_kl:.3g}")
        # the extractor runs (and the first time, trains) on the CPU in float32 whatever the run's
        # precision, so metrics of bf16/fp16 runs stay comparable; the trainer evaluates under no_grad
        with torch.enable_grad(), torch.autocast("cpu", enabled=False):
            evaluator = self._image_evaluator(source)
        # as many fakes as held-out real images; a conditional G draws them for the held-out
        # images' labels, so both sides have the same classes in the same proportions
        labels = evaluator.held_out_labels if self.num_classes is not None else None
        g = torch.Generator().manual_seed(self.eval_seed)  # the same z at every evaluation
        fake = self.generate(torch.randn(evaluator.num_fake, self.cfg.z_dim, generator=g), labels)
        with torch.autocast("cpu", enabled=False):
            result = evaluator.score(fake, labels)
        real = evaluator.real if self.num_classes is not None else {k: v for k, v in evaluator.real.items()
                                                                     if k != "class_diversity"}
        metrics = {**result, **{f"real_{k}": v for k, v in real.items()}}
        shown = ", ".join(f"{k} {metrics[k]:.3g} (real {metrics['real_' + k]:.3g})" for k in
                          ("recall", "coverage", "class_diversity") if k in metrics and "real_" + k in metrics)
        return Evaluation(metrics, score="fid", higher_is_better=False,
                          summary=f"FID {metrics['fid']:.3g}" + (f", {shown}" if shown else ""))

    def _image_evaluator(self, source: Any) -> Any:
        """The data set's own small classifier (agents.gan_metrics), trained once and cached on disk; the
        reference and held-out real features and the held-out set's scores, once per run."""
        if self._evaluator is None:
            from agents.gan_metrics import ImageEvaluator, dataset_extractor

            extractor = dataset_extractor(source, cache_dir())
            extractor.module.eval()
            self._evaluator = ImageEvaluator(source, extractor, self.cfg.eval_samples)
        return self._evaluator

    # ------------------------------------------------------------------ logs, checkpoints
    _D_STATS = ("loss/d", "train/d_real", "train/d_fake", "loss/gp")

    def log_metrics(self) -> dict[str, float]:
        metrics = self.stats.pop_vector("d", self._D_STATS)
        metrics.update(self.stats.pop_vector("g", ("loss/g",)))
        metrics.update(self.stats.pop_vector("r1", ("loss/r1",)))
        if self.cfg.gp_weight == 0:
            metrics.pop("loss/gp", None)
        if metrics:
            metrics["train/real_samples"] = self.images_seen
        return metrics

    def show(self, source: Any, out_dir: Path, seed: int) -> list[Path]:
        """lab.watch: fresh samples of G_ema (z drawn with `seed`) and a latent walk through `seed`'s
        anchors, written to out_dir."""
        from agents.gan_media import interpolation_frames, media_frame, write_png, write_video

        samples = self.media_samples(seed)
        grid = write_png(media_frame(samples), Path(out_dir) / "samples.png")
        walk = write_video(interpolation_frames(self.interpolation(seed=seed + 1), samples),
                           Path(out_dir) / "latent_walk.mp4")
        if "texts" not in samples:
            return [grid, walk]
        texts = Path(out_dir) / "samples.txt"  # level GANs: the samples as level text
        texts.write_text("".join(f"# sample {i}\n{t}" for i, t in enumerate(samples["texts"])))
        return [grid, walk, texts]

    def hooks(self, run_dir: Path, loggers: Any) -> dict[str, list[Any]]:
        """Sample grids at each evaluation; the evolution GIF and a latent-interpolation video at the end."""
        from agents.gan_media import GANMedia

        return GANMedia(self, Path(run_dir) / "media", loggers).hooks()

    def status(self) -> str:
        return f"{self.images_seen:,} real samples"

    def state_dict(self) -> dict[str, Any]:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
                "ema_updates": self.ema_updates, "generator": generator_state(self.generator),
                "eval_seed": self.eval_seed, "images_seen": self.images_seen, "stats": self.stats.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.ema_updates, self.eval_seed = state["ema_updates"], state["eval_seed"]
        self._stats_step = None  # measured again before the next sample
        set_generator_state(self.generator, state["generator"])
        self.images_seen = state["images_seen"]
        self.stats.load_state_dict(state["stats"])


def _slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of a and b at fractions t: (len(t), *a.shape)."""
    cos = F.cosine_similarity(a, b, dim=-1).clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.acos(cos).unsqueeze(-1)  # (rows, 1)
    t = t.view(-1, 1, 1)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


CONFIG = GANConfig  # this learner's config schema (conf/agent/{gan,dcgan,wgan_gp,sngan,cgan}.yaml)


def build(source: Any, cfg: GANConfig, device: torch.device, seeds: Seeds) -> GAN:
    """The learner for agent=gan|dcgan|wgan_gp|sngan|cgan (called by lab/run.py)."""
    if getattr(source, "kind", None) not in ("points", "images", "levels"):
        raise ValueError("a GAN learns from a data source (data=...)")
    return GAN(source, cfg, device, seeds)
