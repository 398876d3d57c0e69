"""Offline GAN metrics: 2-D mixture mode coverage (PacGAN), FID, KID, precision/recall,
density/coverage, within-class diversity, and the feature extractors they run on.

    from agents.gan_metrics import mixture_metrics, image_metrics, dataset_extractor, ImageEvaluator
    m = mixture_metrics(samples, source.modes, source.std)
    r = image_metrics(real, fake, dataset_extractor(source, cache_dir="runs/.cache"))
    evaluator = ImageEvaluator(source, dataset_extractor(source, cache_dir="runs/.cache"))
"""

from agents.gan_metrics.diversity import class_diversity
from agents.gan_metrics.features import (ExtractorError, FeatureExtractor, SmallConvNet, dataset_extractor,
                                  load_smallconv, load_torchscript_extractor, save_smallconv,
                                  train_smallconv)
from agents.gan_metrics.frechet import (fid_from_features, frechet_distance, gaussian_stats,
                                 kid_from_features, mmd2_unbiased)
from agents.gan_metrics.images import PRDC_K, ImageEvaluator, image_metrics, metrics_from_features, real_split
from agents.gan_metrics.manifold import density_coverage, knn_radii, prdc, precision_recall
from agents.gan_metrics.mixture import DEFAULT_NUM_SAMPLES, MixtureMetrics, mixture_metrics, mode_histogram

__all__ = [
    "DEFAULT_NUM_SAMPLES", "ExtractorError", "FeatureExtractor", "ImageEvaluator", "MixtureMetrics",
    "PRDC_K", "SmallConvNet", "class_diversity", "dataset_extractor", "density_coverage",
    "fid_from_features", "frechet_distance", "gaussian_stats", "image_metrics", "kid_from_features",
    "knn_radii", "load_smallconv", "load_torchscript_extractor", "metrics_from_features", "mixture_metrics", "mmd2_unbiased",
    "mode_histogram", "prdc", "precision_recall", "real_split", "save_smallconv", "train_smallconv",
]
