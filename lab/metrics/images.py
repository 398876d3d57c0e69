"""All image metrics from one pair of feature sets, stamped with the protocol that produced them.

Numbers from different extractors or sample counts are not comparable, so every result holds
`protocol`: sample counts, the extractor's name and sha256, and each metric's settings.

    result = image_metrics(real_images, fake_images, extractor)  # {"fid": ..., "protocol": {...}}
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from lab.metrics.features import FeatureExtractor
from lab.metrics.frechet import fid_from_features, kid_from_features
from lab.metrics.manifold import density_coverage, precision_recall


def metrics_from_features(real: Tensor, fake: Tensor, *, kid_subsets: int = 100,
                          kid_subset_size: int = 1000, pr_k: int = 3, dc_k: int = 5,
                          seed: int = 0) -> dict[str, Any]:
    """FID, KID, precision/recall and density/coverage of fake vs real features (N, D)."""
    result: dict[str, Any] = {}
    protocol: dict[str, Any] = {}
    for part in (fid_from_features(real, fake),
                 kid_from_features(real, fake, kid_subsets, kid_subset_size, seed),
                 precision_recall(real, fake, pr_k),
                 density_coverage(real, fake, dc_k)):
        protocol.update(part.pop("protocol"))
        result.update(part)
    protocol["feature_dim"] = int(real.reshape(len(real), -1).shape[1])
    result["protocol"] = protocol
    return result


def image_metrics(real: Tensor, fake: Tensor, extractor: FeatureExtractor, *,
                  batch_size: int = 256, **kw: Any) -> dict[str, Any]:
    """Extract features of real and fake images (NCHW in [-1, 1]) and compute every metric.

    To score many generator snapshots against one real set, extract the real features once
    and call `metrics_from_features` instead.
    """
    result = metrics_from_features(extractor(real, batch_size), extractor(fake, batch_size), **kw)
    result["protocol"].update(extractor.protocol)
    return result
