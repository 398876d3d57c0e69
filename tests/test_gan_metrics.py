"""GAN metrics against analytic answers, and the feature extractors' hashing and caching."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.data import make_dataset
from agents.gan_metrics import (DEFAULT_NUM_SAMPLES, ExtractorError, FeatureExtractor, ImageEvaluator,
                         class_diversity, dataset_extractor, density_coverage, fid_from_features,
                         frechet_distance, gaussian_stats, image_metrics, kid_from_features, knn_radii,
                         load_smallconv, load_torchscript_extractor, metrics_from_features,
                         mixture_metrics, mmd2_unbiased, prdc, precision_recall, real_split,
                         save_smallconv, train_smallconv)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_spd(d: int, seed: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=gen(seed), dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


# ---------------------------------------------------------------- Fréchet distance


def test_frechet_closed_form_diagonal() -> None:
    # commuting covariances: d^2 = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 0.25])
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    expected = 1 + 4 + ((a.sqrt() - b.sqrt()) ** 2).sum().item()
    assert frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_closed_form_non_commuting() -> None:
    # S1 = c I commutes with nothing in particular, yet Tr sqrt(c S2) = sqrt(c) Tr sqrt(S2),
    # and Tr sqrt(S2) is the sum of square roots of S2's eigenvalues: a closed form for any S2
    c, s2 = 2.5, random_spd(6, seed=1)
    mu = torch.zeros(6, dtype=torch.float64)
    trace_sqrt = torch.linalg.eigvalsh(s2).sqrt().sum().item()
    expected = 6 * c + s2.trace().item() - 2 * math.sqrt(c) * trace_sqrt
    assert frechet_distance(mu, c * torch.eye(6), mu, s2) == pytest.approx(expected, rel=1e-10)


def test_frechet_matches_scipy_sqrtm() -> None:
    scipy_linalg = pytest.importorskip("scipy.linalg")
    s1, s2 = random_spd(8, seed=2), random_spd(8, seed=3)
    mu1 = torch.randn(8, generator=gen(4), dtype=torch.float64)
    mu2 = torch.randn(8, generator=gen(5), dtype=torch.float64)
    covmean = scipy_linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    expected = float(((mu1 - mu2) ** 2).sum() + s1.trace() + s2.trace() - 2 * np.trace(covmean))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_frechet_singular_covariances() -> None:
    # more dimensions than samples: rank-deficient covariance, where sqrtm-based code often fails
    x = torch.randn(5, 20, generator=gen(6), dtype=torch.float64)
    mu, sigma = gaussian_stats(x)
    assert torch.linalg.matrix_rank(sigma) < 20
    # sqrt amplifies round-off in the zero eigenvalues (sqrt(1e-16) = 1e-8 each): hence 1e-6
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(mu, sigma, mu + 1, sigma) == pytest.approx(20.0, abs=1e-6)


def test_fid_on_samples_approaches_closed_form() -> None:
    d = 4
    s1, s2 = random_spd(d, seed=7), random_spd(d, seed=8)
    mu1, mu2 = torch.zeros(d, dtype=torch.float64), torch.full((d,), 0.5, dtype=torch.float64)
    n = 40_000
    x = mu1 + torch.randn(n, d, generator=gen(9), dtype=torch.float64) @ torch.linalg.cholesky(s1).T
    y = mu2 + torch.randn(n, d, generator=gen(10), dtype=torch.float64) @ torch.linalg.cholesky(s2).T
    exact = frechet_distance(mu1, s1, mu2, s2)
    result = fid_from_features(x, y)
    assert result["fid"] == pytest.approx(exact, rel=0.05, abs=0.01)
    assert result["protocol"] == {"num_real": n, "num_fake": n}


def test_fid_identical_sets_is_zero() -> None:
    x = torch.randn(500, 16, generator=gen(11))
    assert fid_from_features(x, x.clone())["fid"] == pytest.approx(0.0, abs=1e-8)


# ---------------------------------------------------------------- KID


def test_mmd2_unbiased_matches_definition() -> None:
    x = torch.randn(6, 3, generator=gen(12), dtype=torch.float64)
    y = torch.randn(5, 3, generator=gen(13), dtype=torch.float64) + 0.3
    k = lambda a, b: (float(a @ b) / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / (6 * 5)
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    xy = sum(k(x[i], y[j]) for i in range(6) for j in range(5)) / (6 * 5)
    assert mmd2_unbiased(x, y).item() == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


def test_kid_identical_sets_near_zero_and_shift_detected() -> None:
    # identical sets are not independent samples, so the unbiased estimate is slightly
    # negative (O(1/n)), not exactly 0; it must be small next to a small real shift
    x = torch.randn(1000, 8, generator=gen(14))
    same = kid_from_features(x, x.clone(), num_subsets=2)
    shifted = kid_from_features(x, x + 0.2, num_subsets=2)
    assert abs(same["kid"]) < 0.03 and shifted["kid"] > 3 * abs(same["kid"])
    assert same["protocol"]["kid_subset_size"] == 1000 and same["protocol"]["kid_subsets"] == 2


def test_kid_unbiased_where_biased_estimate_is_not() -> None:
    # two independent samples of one distribution: the population MMD^2 is 0; the unbiased
    # estimate averages to 0, while the biased (V-statistic) one sits clearly above it
    m, trials = 20, 300
    estimates, biased = [], []
    for t in range(trials):
        x = torch.randn(m, 4, generator=gen(1000 + t), dtype=torch.float64)
        y = torch.randn(m, 4, generator=gen(5000 + t), dtype=torch.float64)
        estimates.append(mmd2_unbiased(x, y).item())
        kxx, kyy, kxy = [(a @ b.T / 4 + 1) ** 3 for a, b in ((x, x), (y, y), (x, y))]
        biased.append((kxx.mean() + kyy.mean() - 2 * kxy.mean()).item())
    estimates_t, biased_t = torch.tensor(estimates), torch.tensor(biased)
    standard_error = estimates_t.std().item() / math.sqrt(trials)
    assert abs(estimates_t.mean().item()) < 4 * standard_error
    assert biased_t.mean().item() > 10 * standard_error


# ---------------------------------------------------------------- precision/recall, density/coverage


def test_knn_radii_brute_force() -> None:
    x = torch.randn(30, 3, generator=gen(15), dtype=torch.float64)
    d = torch.cdist(x, x)
    expected = d.sort(dim=1).values[:, 3]  # column 0 is the point itself
    assert torch.allclose(knn_radii(x, 3), expected)


def test_precision_recall_identical_and_disjoint() -> None:
    x = torch.randn(300, 5, generator=gen(16))
    same = precision_recall(x, x.clone())
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    far = precision_recall(x, x + 100.0)
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    assert same["protocol"]["pr_k"] == 3


def test_precision_recall_mode_collapse() -> None:
    # real: two far clusters; fake: only one of them -> faithful (high precision), not diverse
    a = torch.randn(200, 2, generator=gen(17))
    b = torch.randn(200, 2, generator=gen(18)) + 50
    fake = torch.randn(400, 2, generator=gen(19))
    result = precision_recall(torch.cat([a, b]), fake)
    assert result["precision"] > 0.9 and result["recall"] < 0.6


def test_density_coverage() -> None:
    x = torch.randn(300, 5, generator=gen(20))
    same = density_coverage(x, x.clone())
    assert same["coverage"] == 1.0 and same["density"] >= 1.0 / 5  # each point is in its own ball
    fresh = density_coverage(x, torch.randn(300, 5, generator=gen(21)))
    assert 0.7 < fresh["density"] < 1.3 and fresh["coverage"] > 0.8  # ~1 for matching distributions
    far = density_coverage(x, x + 100.0)
    assert far["density"] == 0.0 and far["coverage"] == 0.0


def test_prdc_is_precision_recall_and_density_coverage_at_one_k() -> None:
    real = torch.randn(300, 4, generator=gen(40))
    fake = torch.randn(250, 4, generator=gen(41)) * 1.3 + 0.2
    both = prdc(real, fake, k=5)
    assert both["protocol"] == {"num_real": 300, "num_fake": 250, "pr_k": 5, "dc_k": 5}
    separate = {**precision_recall(real, fake, 5), **density_coverage(real, fake, 5)}
    for key in ("precision", "recall", "density", "coverage"):
        assert both[key] == separate[key], key
    cached = prdc(real, fake, k=5, real_radii=knn_radii(real.double(), 5))
    assert {k: cached[k] for k in separate if k != "protocol"} == {k: both[k] for k in separate if k != "protocol"}
    with pytest.raises(ValueError, match="real_radii has 3 entries for 300"):
        prdc(real, fake, real_radii=torch.ones(3))


def test_prdc_by_hand() -> None:
    # 1-D, k=1: real 0, 1, 3 have radii 1, 1, 2; fake 0.5, 0.9, 10, 11 have radii 0.4, 0.4, 1, 1
    real, fake = torch.tensor([[0.0], [1.0], [3.0]]), torch.tensor([[0.5], [0.9], [10.0], [11.0]])
    m = prdc(real, fake, k=1)
    assert m["precision"] == pytest.approx(2 / 4)  # 0.5 and 0.9 each lie in the balls of 0 and 1
    assert m["recall"] == pytest.approx(1 / 3)  # only 1 lies in a fake ball (0.9's)
    assert m["density"] == pytest.approx((2 + 2 + 0 + 0) / 4)  # balls per fake, averaged, / k
    assert m["coverage"] == pytest.approx(2 / 3)  # 3's ball (radius 2) holds no fake: 0.9 is 2.1 away


# ---------------------------------------------------------------- within-class diversity


def test_class_diversity_by_hand() -> None:
    features = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [7.0, 7.0]])
    labels = torch.tensor([0, 0, 1, 1, 1, 2])  # class 2 has one sample: skipped
    # class 0: one pair at distance 5; class 1: pairs at 1, 2, 1 -> 4/3; mean over the two classes
    assert class_diversity(features, labels) == pytest.approx((5 + 4 / 3) / 2)
    with pytest.raises(ValueError, match="6 feature vectors but 5 labels"):
        class_diversity(features, labels[:5])
    with pytest.raises(ValueError, match="at least two samples"):
        class_diversity(features[:2], torch.tensor([0, 1]))


def test_class_diversity_sees_a_generator_that_ignores_its_noise() -> None:
    means = torch.randn(10, 16, generator=gen(42)) * 3
    y = torch.arange(1000) % 10
    z = torch.randn(1000, 16, generator=gen(43))

    def generator(z: torch.Tensor, y: torch.Tensor, z_weight: float) -> torch.Tensor:
        return means[y] + z_weight * z  # the class sets the mean, z the variation within it

    real = means[y] + torch.randn(1000, 16, generator=gen(44))
    collapsed, partial, diverse = (class_diversity(generator(z, y, w), y) for w in (0.0, 0.3, 1.0))
    assert collapsed == 0.0  # one image per class whatever z
    assert 0 < partial < diverse
    # real data scores its own value, and a generator that matches it scores the same
    assert diverse == pytest.approx(class_diversity(real, y), rel=0.03)
    # E|x - x'| for x, x' ~ N(0, I_16) is sqrt(2) E chi_16 = 2 Gamma(8.5) / Gamma(8) ~ 5.59
    assert class_diversity(real, y) == pytest.approx(2 * math.exp(math.lgamma(8.5) - math.lgamma(8)), rel=0.02)


# ---------------------------------------------------------------- the evaluator a GAN run logs


class Blobs:
    """A stand-in image source: 10 classes of 8-D Gaussian blobs as (N, 8, 1, 1) "images"."""

    name = "blobs"

    def __init__(self, n: int, seed: int = 45, spread: float = 5.0) -> None:
        self.means = torch.randn(10, 8, generator=gen(seed)) * spread
        self.labels = torch.arange(n) % 10
        self.x = self.means[self.labels] + torch.randn(n, 8, generator=gen(seed + 1))

    def __len__(self) -> int:
        return len(self.x)

    def get(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index].view(-1, 8, 1, 1), self.labels[index]


IDENTITY = FeatureExtractor(torch.nn.Flatten(), "identity", "0" * 64)


def test_real_split_is_disjoint_distinct_and_fixed() -> None:
    class Indices:
        name = "indices"

        def __len__(self) -> int:
            return 25

        def get(self, index: torch.Tensor) -> tuple[torch.Tensor, None]:
            return index, None

    (reference, _), (held_out, _) = real_split(Indices(), 100)  # capped at half the data: 12 each
    assert len(reference) == len(held_out) == 12
    assert len(set(reference.tolist()) | set(held_out.tolist())) == 24  # distinct and disjoint
    assert torch.equal(real_split(Indices(), 100)[0][0], reference)  # one fixed permutation
    (small, _), (small_held, _) = real_split(Indices(), 5)
    assert len(small) == len(small_held) == 5


def test_evaluator_sees_collapse_that_fid_misses() -> None:
    source = Blobs(4000)
    evaluator = ImageEvaluator(source, IDENTITY, 1000)
    assert evaluator.num_fake == 1000 and len(evaluator.reference) == 1000
    assert evaluator.protocol["pr_k"] == evaluator.protocol["dc_k"] == 5
    y = evaluator.held_out_labels
    real = evaluator.real
    # what good is: held-out real images score near the ideal values
    assert min(real["precision"], real["recall"], real["coverage"]) > 0.85 and 0.85 < real["density"] < 1.15
    # each class drawn as (nearly) one point: the class means are right, so FID moves little
    # and ranks this set above an honest, diverse set that is slightly off
    collapsed = evaluator.score_features(source.means[y] + 0.05 * torch.randn(1000, 8, generator=gen(47)), y)
    shifted = evaluator.score_features(source.means[y] + torch.randn(1000, 8, generator=gen(48)) + 0.5, y)
    assert collapsed["fid"] < shifted["fid"]
    # ... while recall, coverage and within-class diversity show the collapse
    assert collapsed["precision"] > 0.99 and collapsed["recall"] < 0.05 < 0.7 < shifted["recall"]
    assert collapsed["coverage"] < 0.5 * real["coverage"] < shifted["coverage"]
    assert collapsed["class_diversity"] < 0.1 * real["class_diversity"]
    assert shifted["class_diversity"] == pytest.approx(real["class_diversity"], rel=0.05)
    # exactly one point per class: recall and diversity are exactly 0
    one_point = evaluator.score_features(source.means[y], y)
    assert one_point["recall"] == 0.0 and one_point["class_diversity"] == 0.0
    # a fresh real sample scores as the held-out set does
    fresh = evaluator.score_features(source.means[y] + torch.randn(1000, 8, generator=gen(49)), y)
    for key in ("precision", "recall", "coverage"):
        assert fresh[key] == pytest.approx(real[key], abs=0.04), key
    assert fresh["density"] == pytest.approx(real["density"], abs=0.15)
    assert fresh["fid"] < 0.5 * shifted["fid"] and fresh["kid"] < shifted["kid"]


def test_evaluator_needs_equal_counts_and_enough_images() -> None:
    evaluator = ImageEvaluator(Blobs(400), IDENTITY, 100)
    with pytest.raises(ValueError, match="score 100 fake samples"):
        evaluator.score_features(torch.zeros(99, 8))
    assert "class_diversity" not in evaluator.score_features(torch.randn(100, 8, generator=gen(50)))
    with pytest.raises(ValueError, match="more than 5 images in each of two disjoint real sets"):
        ImageEvaluator(Blobs(11), IDENTITY, 100)


# ---------------------------------------------------------------- 2-D mixtures (PacGAN)


def test_mixture_all_samples_at_one_mode() -> None:
    source = make_dataset("ring8")
    samples = source.modes[3].expand(DEFAULT_NUM_SAMPLES, 2).clone()
    m = mixture_metrics(samples, source.modes, source.std)
    assert m.modes_captured == 1 and m.high_quality == 1.0
    assert m.reverse_kl == pytest.approx(math.log(8))
    assert m.histogram == [0, 0, 0, DEFAULT_NUM_SAMPLES, 0, 0, 0, 0]
    assert m.protocol["num_samples"] == DEFAULT_NUM_SAMPLES and m.protocol["threshold_std"] == 3.0


def test_mixture_uniform_and_partial() -> None:
    source = make_dataset("grid25")
    uniform = source.modes.repeat(100, 1)
    m = mixture_metrics(uniform, source.modes, source.std)
    assert m.modes_captured == 25 and m.high_quality == 1.0 and m.reverse_kl == pytest.approx(0.0, abs=1e-12)
    # half the samples far off every mode: they are low quality and not in the histogram
    half = torch.cat([source.modes[:5].repeat(10, 1), torch.full((50, 2), 1.0)])
    m = mixture_metrics(half, source.modes, source.std)
    assert m.modes_captured == 5 and m.high_quality == 0.5
    assert m.reverse_kl == pytest.approx(math.log(25 / 5))


def test_mixture_threshold_and_no_quality() -> None:
    source = make_dataset("ring8")
    mode = source.modes[0]
    inside = mode + torch.tensor([2.9 * source.std, 0.0])
    outside = mode + torch.tensor([3.1 * source.std, 0.0])
    assert mixture_metrics(inside[None], source.modes, source.std).high_quality == 1.0
    none = mixture_metrics(outside[None], source.modes, source.std)
    assert none.high_quality == 0.0 and none.modes_captured == 0 and none.reverse_kl == math.inf


def test_mixture_of_true_samples() -> None:
    source = make_dataset("ring8")
    x, _ = source.sample(DEFAULT_NUM_SAMPLES, gen(22))
    m = mixture_metrics(x, source.modes, source.std)
    # within 3 std in 2-D: P(chi2_2 <= 9) = 1 - exp(-4.5) = 0.989
    assert m.modes_captured == 8 and m.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert m.reverse_kl < 0.01 and sum(m.histogram) == round(m.high_quality * DEFAULT_NUM_SAMPLES)


# ---------------------------------------------------------------- feature extractors


@pytest.fixture(scope="module")
def digits():
    return make_dataset("digits", image_size=16)


@pytest.fixture(scope="module")
def trained(digits):
    return train_smallconv(digits, seed=0, steps=150)


def test_smallconv_learns_and_is_deterministic(digits, trained) -> None:
    extractor, payload = trained
    assert payload["meta"]["train_accuracy"] > 0.8
    assert extractor.name == "smallconv-v1/digits/1x16x16/seed0"
    rng_before = torch.get_rng_state()
    _, again = train_smallconv(digits, seed=0, steps=150)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is untouched
    assert again["sha256"] == payload["sha256"]
    x, _ = digits.sample(10, gen())
    assert extractor(x).shape == (10, 64)


def test_smallconv_save_load_and_tamper(tmp_path: Path, digits, trained) -> None:
    extractor, payload = trained
    path = save_smallconv(payload, tmp_path / "ex.pt")
    loaded = load_smallconv(path, expected_sha256=extractor.sha256)
    x, _ = digits.sample(8, gen())
    assert torch.equal(loaded(x), extractor(x)) and loaded.sha256 == extractor.sha256
    with pytest.raises(ExtractorError, match="does not match"):
        load_smallconv(path, expected_sha256="0" * 64)
    payload_bad = {**payload, "state_dict": {k: v + 1 for k, v in payload["state_dict"].items()}}
    save_smallconv(payload_bad, tmp_path / "bad.pt")
    with pytest.raises(ExtractorError, match=r"bad.pt: weights hash"):
        load_smallconv(tmp_path / "bad.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ExtractorError, match=r"junk.pt: not a valid smallconv extractor"):
        load_smallconv(tmp_path / "junk.pt")


def test_dataset_extractor_is_cached(tmp_path: Path, digits) -> None:
    first = dataset_extractor(digits, tmp_path, seed=1, steps=20)
    files = list(tmp_path.glob("*.pt"))
    assert [f.name for f in files] == ["smallconv-v1_digits_1x16x16_seed1_steps20.pt"]
    mtime = files[0].stat().st_mtime_ns
    second = dataset_extractor(digits, tmp_path, seed=1, steps=20)
    assert second.sha256 == first.sha256 and files[0].stat().st_mtime_ns == mtime


def test_extractor_needs_labelled_images() -> None:
    with pytest.raises(ExtractorError, match="labelled image source"):
        train_smallconv(make_dataset("ring8"))


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_torchscript_extractor(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4))
    path = tmp_path / "f.pt"
    torch.jit.script(net).save(str(path))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    extractor = load_torchscript_extractor(path, sha, input_shape=(1, 4, 4))
    x = torch.randn(5, 1, 4, 4, generator=gen(23))
    assert torch.allclose(extractor(x), net(x))
    assert extractor.protocol == {"extractor": "torchscript:f.pt", "extractor_sha256": sha}
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 1, 4, 4\)"):
        extractor(torch.zeros(2, 1, 5, 5))
    with pytest.raises(ExtractorError, match="sha256 mismatch"):
        load_torchscript_extractor(path, "ab" * 32)
    with pytest.raises(ExtractorError, match="not found"):
        load_torchscript_extractor(tmp_path / "missing.pt", sha)


def test_export_extractor(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4))
    example = (torch.randn(2, 1, 4, 4),)
    program = torch.export.export(net, example, dynamic_shapes=({0: torch.export.Dim("batch")},))
    path = tmp_path / "f.pt2"
    torch.export.save(program, path)
    extractor = load_torchscript_extractor(path, hashlib.sha256(path.read_bytes()).hexdigest())
    x = torch.randn(300, 1, 4, 4, generator=gen(28))  # 300: batches of 256 and 44
    assert torch.allclose(extractor(x), net(x), atol=1e-6)
    assert extractor.name == "export:f.pt2"


def test_image_metrics_end_to_end(digits, trained) -> None:
    extractor, _ = trained
    real, _ = digits.sample(400, gen(24))
    real2, _ = digits.sample(400, gen(25))
    noise = torch.rand(400, 1, 16, 16, generator=gen(26)) * 2 - 1
    good = image_metrics(real, real2, extractor, kid_subsets=20, kid_subset_size=200)
    bad = image_metrics(real, noise, extractor, kid_subsets=20, kid_subset_size=200)
    assert good["fid"] < bad["fid"] and good["kid"] < bad["kid"]
    assert good["precision"] > bad["precision"] and good["coverage"] > bad["coverage"]
    protocol = good["protocol"]
    assert protocol["extractor"] == extractor.name and protocol["extractor_sha256"] == extractor.sha256
    assert protocol["num_real"] == 400 and protocol["num_fake"] == 400 and protocol["feature_dim"] == 64
    assert set(good) == {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "protocol"}


def test_metrics_from_features_is_plain_numbers() -> None:
    x = torch.randn(50, 3, generator=gen(27))
    result = metrics_from_features(x, x + 0.1, kid_subsets=5, kid_subset_size=20)
    assert all(isinstance(v, float) for k, v in result.items() if k != "protocol")
    assert isinstance(FeatureExtractor(torch.nn.Identity(), "id", "0").protocol, dict)
