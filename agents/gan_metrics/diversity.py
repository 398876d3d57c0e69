"""Within-class diversity: how different the samples of one class are from each other.

A class-conditional generator that ignores its noise draws one image per class; FID and KID
computed over all classes barely see it (the class means are right, and they dominate the
feature statistics). This figure does: the mean Euclidean distance between two different
samples of the same class, in feature space, averaged over the classes with at least two
samples. It is 0 for a generator that ignores its noise; real images score their own value,
so read it beside the same figure for held-out real images (`eval/real_class_diversity`).
Noise images also score high: read it beside precision, which they fail.

    d = class_diversity(features, labels)  # fake features and the labels they were drawn for
"""

from __future__ import annotations

import torch
from torch import Tensor


def class_diversity(features: Tensor, labels: Tensor) -> float:
    """Mean pairwise distance among same-class features (N, D), averaged over classes.

    Each pair of distinct samples counts once (torch.pdist: the U-statistic, so the value does
    not depend on how many samples a class has); classes with fewer than two samples are skipped.
    """
    x = features.detach().to(torch.float64).reshape(len(features), -1)
    labels = labels.reshape(-1)
    if len(labels) != len(x):
        raise ValueError(f"{len(x)} feature vectors but {len(labels)} labels")
    per_class = [torch.pdist(x[labels == c]).mean() for c in labels.unique() if int((labels == c).sum()) >= 2]
    if not per_class:
        raise ValueError("class_diversity needs at least two samples of some class")
    return float(torch.stack(per_class).mean())
