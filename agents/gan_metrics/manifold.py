"""k-NN manifold metrics: improved precision/recall and density/coverage.

Precision/recall: Kynkäänniemi et al., "Improved Precision and Recall Metric for Assessing
Generative Models", NeurIPS 2019. Each set's manifold is the union of balls around its points
with radius = distance to the k-th nearest neighbour (k=3). Precision: share of fake samples
inside the real manifold (fidelity); recall: share of real samples inside the fake manifold
(diversity).

Density/coverage: Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative Models",
ICML 2020 (k=5). Density: how many real balls contain each fake sample, averaged and divided by
k (about 1 when the distributions match; it can exceed 1). Coverage: share of real balls that
contain at least one fake sample. Both use only the real manifold, so they are robust to
outliers among the fakes.

`prdc` computes all four at one k from one set of distances (k=5, as Naeem et al. and their
`prdc` package do for all four); a caller scoring many fake sets against one real set passes the
real radii it computed once.

    pr = precision_recall(real_features, fake_features)  # {"precision": ..., "recall": ...}
    m = prdc(real_features, fake_features, k=5)  # precision, recall, density, coverage
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

_CHUNK = 1024  # rows of the distance matrix held at once: memory stays O(chunk x N)


def _as_matrix(x: Tensor) -> Tensor:
    return x.detach().to(torch.float64).reshape(len(x), -1)


def knn_radii(x: Tensor, k: int) -> Tensor:
    """Distance from each point to its k-th nearest neighbour in x, the point itself excluded."""
    if len(x) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} points, got {len(x)}")
    radii = []
    for start in range(0, len(x), _CHUNK):
        d = torch.cdist(x[start:start + _CHUNK], x)
        # index k of the k+1 smallest: index 0 is the point itself at distance 0
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def _ball_counts(centers: Tensor, radii: Tensor, queries: Tensor) -> tuple[Tensor, Tensor]:
    """For each query, how many balls contain it; for each ball, whether any query is inside."""
    per_query = torch.zeros(len(queries), dtype=torch.int64)
    ball_hit = torch.zeros(len(centers), dtype=torch.bool)
    for start in range(0, len(queries), _CHUNK):
        inside = torch.cdist(queries[start:start + _CHUNK], centers) <= radii  # (chunk, balls)
        per_query[start:start + _CHUNK] = inside.sum(dim=1)
        ball_hit |= inside.any(dim=0)
    return per_query, ball_hit


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> dict[str, Any]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of fake vs real features."""
    real, fake = _as_matrix(real), _as_matrix(fake)
    fake_in_real, _ = _ball_counts(real, knn_radii(real, k), fake)
    real_in_fake, _ = _ball_counts(fake, knn_radii(fake, k), real)
    return {"precision": float((fake_in_real > 0).double().mean()),
            "recall": float((real_in_fake > 0).double().mean()),
            "protocol": {"num_real": len(real), "num_fake": len(fake), "pr_k": k}}


def density_coverage(real: Tensor, fake: Tensor, k: int = 5) -> dict[str, Any]:
    """Density and coverage (Naeem et al. 2020) of fake vs real features."""
    real, fake = _as_matrix(real), _as_matrix(fake)
    balls_per_fake, real_ball_hit = _ball_counts(real, knn_radii(real, k), fake)
    return {"density": float(balls_per_fake.double().mean() / k),
            "coverage": float(real_ball_hit.double().mean()),
            "protocol": {"num_real": len(real), "num_fake": len(fake), "dc_k": k}}


def prdc(real: Tensor, fake: Tensor, k: int = 5, real_radii: Tensor | None = None) -> dict[str, Any]:
    """Precision, recall, density and coverage at one k, each distance computed once.

    The same numbers as `precision_recall(real, fake, k)` and `density_coverage(real, fake, k)`;
    `real_radii` (`knn_radii(real, k)`) may be passed in when `real` is a fixed reference set.
    """
    real, fake = _as_matrix(real), _as_matrix(fake)
    if real_radii is None:
        real_radii = knn_radii(real, k)
    elif len(real_radii) != len(real):
        raise ValueError(f"real_radii has {len(real_radii)} entries for {len(real)} real points")
    balls_per_fake, real_ball_hit = _ball_counts(real, real_radii.to(torch.float64), fake)
    real_in_fake, _ = _ball_counts(fake, knn_radii(fake, k), real)
    return {"precision": float((balls_per_fake > 0).double().mean()),
            "recall": float((real_in_fake > 0).double().mean()),
            "density": float(balls_per_fake.double().mean() / k),
            "coverage": float(real_ball_hit.double().mean()),
            "protocol": {"num_real": len(real), "num_fake": len(fake), "pr_k": k, "dc_k": k}}
