"""Fréchet distance between Gaussian fits of features (FID) and kernel inception distance (KID).

FID: Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", NeurIPS 2017: d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).
The trace of the matrix square root is computed as sum sqrt(eig(sqrt(S1) S2 sqrt(S1))): that
matrix is symmetric PSD with the same eigenvalues as S1 S2, so `eigh` in float64 is enough and
no complex arithmetic or scipy.linalg.sqrtm (which can fail on singular covariances) is needed.

KID: Bińkowski et al., "Demystifying MMD GANs", ICLR 2018: the unbiased estimate of MMD^2 with
the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets.

    fid = fid_from_features(real_features, fake_features)["fid"]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance (float64) of features (N, D), as the reference FID code does."""
    x = features.detach().to(torch.float64).reshape(len(features), -1)
    if len(x) < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {len(x)}")
    mu = x.mean(dim=0)
    centered = x - mu
    return mu, centered.T @ centered / (len(x) - 1)


def _sqrt_psd(matrix: Tensor) -> Tensor:
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    # round-off makes tiny eigenvalues of a singular PSD matrix slightly negative: clip them
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = mu1.to(torch.float64), mu2.to(torch.float64)
    sigma1, sigma2 = sigma1.to(torch.float64), sigma2.to(torch.float64)
    root1 = _sqrt_psd((sigma1 + sigma1.T) / 2)
    middle = root1 @ sigma2 @ root1
    eigenvalues = torch.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = eigenvalues.clamp(min=0).sqrt().sum()
    d2 = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt
    return max(float(d2), 0.0)  # the true value is >= 0; round-off can dip just below


def fid_from_features(real: Tensor, fake: Tensor) -> dict[str, Any]:
    """FID between two feature sets (N, D) and (M, D)."""
    return {"fid": frechet_distance(*gaussian_stats(real), *gaussian_stats(fake)),
            "protocol": {"num_real": len(real), "num_fake": len(fake)}}


def polynomial_kernel(x: Tensor, y: Tensor) -> Tensor:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD^2 estimate with the cubic polynomial kernel (diagonal terms left out)."""
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return ((k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
            + (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
            - 2 * k_xy.mean())


def kid_from_features(real: Tensor, fake: Tensor, num_subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> dict[str, Any]:
    """KID: mean (and std) of unbiased MMD^2 over `num_subsets` random subsets of each set.

    subset_size is capped at the smaller set (as torch-fidelity and clean-fid do); each subset is
    drawn without replacement from a generator seeded with `seed`, so the result is reproducible.
    """
    real = real.detach().to(torch.float64).reshape(len(real), -1)
    fake = fake.detach().to(torch.float64).reshape(len(fake), -1)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(real)} and {len(fake)}")
    generator = torch.Generator().manual_seed(seed)
    estimates = torch.stack([
        mmd2_unbiased(real[torch.randperm(len(real), generator=generator)[:size]],
                      fake[torch.randperm(len(fake), generator=generator)[:size]])
        for _ in range(num_subsets)])
    return {"kid": float(estimates.mean()),
            "kid_std": float(estimates.std()) if num_subsets > 1 else 0.0,
            "protocol": {"num_real": len(real), "num_fake": len(fake), "kid_subsets": num_subsets,
                         "kid_subset_size": size, "kid_seed": seed,
                         "kid_kernel": "(x.y/d + 1)^3"}}
