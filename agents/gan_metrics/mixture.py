"""Mode-collapse metrics for 2-D Gaussian mixtures, as defined by PacGAN.

Lin et al., "PacGAN: The power of two samples in generative adversarial networks", NeurIPS
2018 (arXiv:1712.04086), following VEEGAN (Srivastava et al., 2017). From 2,500 generated
samples: a sample is *high quality* when it lies within 3 standard deviations of its nearest
mode; a mode is *captured* when at least one high-quality sample is assigned to it; the
*reverse KL* is KL(p_gen || uniform) where p_gen is the histogram of high-quality samples over
the modes. Empty modes contribute 0 (0 log 0 = 0), so no epsilon is needed: the uniform side
is never zero. With no high-quality sample at all the histogram is undefined and we report
+inf (worse than the total collapse onto one mode, log K), so "lower is better" still holds.

    m = mixture_metrics(G(z), source.modes, source.std)   # z: 2,500 latent draws
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

DEFAULT_NUM_SAMPLES = 2500  # PacGAN's protocol
DEFAULT_THRESHOLD_STD = 3.0


@dataclass(frozen=True)
class MixtureMetrics:
    modes_captured: int
    num_modes: int
    high_quality: float  # share of samples within `threshold_std` std of their nearest mode
    reverse_kl: float  # KL(high-quality mode histogram || uniform), nats
    histogram: list[int]  # high-quality samples per mode, for live collapse diagnostics
    protocol: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mode_histogram(samples: Tensor, modes: Tensor, std: float,
                   threshold_std: float = DEFAULT_THRESHOLD_STD) -> tuple[Tensor, Tensor]:
    """Per-sample nearest mode and high-quality flag: (mode index (N,), is_high_quality (N,))."""
    samples = samples.detach().to(torch.float64).reshape(len(samples), -1)
    modes = modes.to(samples.device, torch.float64)
    distance = torch.cdist(samples, modes)  # (N, K); modes are isotropic with one std
    nearest_distance, nearest = distance.min(dim=1)
    return nearest, nearest_distance <= threshold_std * std


def mixture_metrics(samples: Tensor, modes: Tensor, std: float,
                    threshold_std: float = DEFAULT_THRESHOLD_STD) -> MixtureMetrics:
    """PacGAN's modes captured, high-quality share and reverse KL for `samples` (N, 2)."""
    if samples.ndim != 2 or samples.shape[1] != modes.shape[1]:
        raise ValueError(f"samples must be (N, {modes.shape[1]}), got {tuple(samples.shape)}")
    if len(samples) == 0:
        raise ValueError("mixture_metrics needs at least one sample")
    nearest, high_quality = mode_histogram(samples, modes, std, threshold_std)
    num_modes = len(modes)
    counts = torch.bincount(nearest[high_quality], minlength=num_modes).cpu()
    total = int(counts.sum())
    if total == 0:
        reverse_kl = math.inf
    else:
        p = counts[counts > 0].to(torch.float64) / total
        reverse_kl = float((p * torch.log(p * num_modes)).sum())  # sum p log(p / (1/K))
    return MixtureMetrics(
        modes_captured=int((counts > 0).sum()),
        num_modes=num_modes,
        high_quality=total / len(samples),
        reverse_kl=reverse_kl,
        histogram=counts.tolist(),
        protocol={"definition": "PacGAN (Lin et al. 2018)", "num_samples": len(samples),
                  "threshold_std": threshold_std, "std": float(std)},
    )
