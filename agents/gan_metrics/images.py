"""All image metrics from one pair of feature sets, stamped with the protocol that produced them;
and the evaluator a GAN run scores its samples with, beside what held-out real images score.

Numbers from different extractors or sample counts are not comparable, so every result holds
`protocol`: sample counts, the extractor's name and sha256, and each metric's settings.

    result = image_metrics(real_images, fake_images, extractor)  # {"fid": ..., "protocol": {...}}
    evaluator = ImageEvaluator(source, extractor, num_samples=2500)
    evaluator.score(fake_images)   # {"fid", "kid", "precision", "recall", "density", "coverage"}
    evaluator.real                 # the same numbers for held-out real images: what good is
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from agents.gan_metrics.diversity import class_diversity
from agents.gan_metrics.features import FeatureExtractor
from agents.gan_metrics.frechet import (fid_from_features, frechet_distance, gaussian_stats,
                                 kid_from_features)
from agents.gan_metrics.manifold import density_coverage, knn_radii, prdc, precision_recall

PRDC_K = 5  # Naeem et al. 2020 (and their prdc package) use k=5 for all four metrics


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


def real_split(source: Any, num_samples: int, seed: int = 0) -> tuple[tuple[Tensor, Tensor | None],
                                                                      tuple[Tensor, Tensor | None]]:
    """Two disjoint sets of distinct real images (and labels): (reference, held_out).

    Each holds min(num_samples, len(source) // 2) images of one fixed permutation (seeded with
    `seed`): drawn without replacement, because a duplicated image is its own nearest neighbour
    and shrinks the k-NN balls of precision/recall/coverage; disjoint, because a held-out image
    that is also in the reference set sits at distance 0 from it and flatters the real baseline.
    """
    n = min(num_samples, len(source) // 2)
    order = torch.randperm(len(source), generator=torch.Generator().manual_seed(seed))
    return source.get(order[:n]), source.get(order[n:2 * n])


class ImageEvaluator:
    """Scores generated images against a fixed reference set of real images, and says what good is.

    Built once per run (the extractor and the reference features are its cost): the reference
    set's Gaussian fit (FID) and k-NN radii (precision, density, coverage) are kept, and a held-out
    set of real images, disjoint from the reference and as large as the fake set, is scored the
    same way into `real`. Fakes must come in that number (`num_fake`): FID, KID's subsets and the
    k-NN balls of recall all depend on the sample count, so only equal counts compare.
    """

    def __init__(self, source: Any, extractor: FeatureExtractor, num_samples: int = 2500, *,
                 k: int = PRDC_K, kid_subsets: int = 10, kid_subset_size: int = 1000, seed: int = 0) -> None:
        (reference, _), (held_out, held_out_labels) = real_split(source, num_samples, seed)
        if len(held_out) <= k:
            raise ValueError(f"image metrics need more than {k} images in each of two disjoint real sets; "
                             f"{source.name} has {len(source)} images and num_samples is {num_samples}")
        self.extractor, self.k, self.seed = extractor, k, seed
        self.kid_subsets, self.kid_subset_size = kid_subsets, kid_subset_size
        self.reference = extractor(reference)
        self.mu, self.sigma = gaussian_stats(self.reference)
        self.radii = knn_radii(self.reference, k)
        self.num_fake = len(held_out)
        self.held_out_labels = held_out_labels  # conditional GANs draw their fakes for these labels
        self.real = self.score_features(extractor(held_out), held_out_labels)

    def score(self, fake_images: Tensor, labels: Tensor | None = None) -> dict[str, float]:
        """The metrics of fake images (NCHW in [-1, 1]); class_diversity too when labels are given."""
        return self.score_features(self.extractor(fake_images), labels)

    def score_features(self, fake: Tensor, labels: Tensor | None = None) -> dict[str, float]:
        if len(fake) != self.num_fake:
            raise ValueError(f"score {self.num_fake} fake samples (as many as the held-out real set), got {len(fake)}")
        result = {"fid": frechet_distance(self.mu, self.sigma, *gaussian_stats(fake)),
                  "kid": kid_from_features(self.reference, fake, self.kid_subsets, self.kid_subset_size,
                                           self.seed)["kid"]}
        manifold = prdc(self.reference, fake, self.k, real_radii=self.radii)
        del manifold["protocol"]
        result.update(manifold)
        if labels is not None:
            result["class_diversity"] = class_diversity(fake, labels)
        return result

    @property
    def protocol(self) -> dict[str, Any]:
        return {"num_reference": len(self.reference), "num_fake": self.num_fake, "pr_k": self.k, "dc_k": self.k,
                "kid_subsets": self.kid_subsets, "kid_subset_size": min(self.kid_subset_size, self.num_fake,
                                                                         len(self.reference)),
                "split_seed": self.seed, "feature_dim": int(self.reference.shape[1]), **self.extractor.protocol}
