"""lpips_tf.uses.bootstrap, the one percentile bootstrap: pinned intervals for every caller
(evaluation scores, diversity, the experiment's paired differences), `confidence` as the one
spelling of the level, and the deprecated `alpha=`.

The pinned numbers were computed by the three separate implementations this module replaced, with
the same seeds; they must not move (rel 1e-12: only the last bits of a quantile may differ)."""

import warnings

import numpy as np
import pytest

from lpips_tf.evaluation import scoring
from lpips_tf.experiments.claims import paired_difference
from lpips_tf.uses import bootstrap
from lpips_tf.uses.pairwise import diversity
from conftest import paired_agreements

REL = 1e-12


def _scores():
    return np.random.default_rng(0).random(400)


def _jnd_data():
    rng = np.random.default_rng(1)
    same = rng.integers(0, 2, 300).astype(float)
    return rng.random(300) + (1 - same) * 0.5, same


def _groups():
    rng = np.random.default_rng(2)
    return [rng.random(300), 0.5 + 0.5 * rng.random(100)]


def test_interval_of_the_mean_is_pinned():
    scores = _scores()
    expected = (0.49911189215872176, 0.5592940119714469)
    assert bootstrap.bootstrap_interval(scores, n_boot=500, seed=1) == pytest.approx(expected,
                                                                                    rel=REL)
    assert scoring.bootstrap_ci(scores, n_boot=500, seed=1) == pytest.approx(expected, rel=REL)
    assert bootstrap.bootstrap_interval(scores, n_boot=500, confidence=0.9, seed=1) == \
        pytest.approx((0.5042529343806109, 0.5556692730452792), rel=REL)
    # A generator instead of a seed: the same draws.
    assert bootstrap.bootstrap_interval(scores, n_boot=500, seed=np.random.default_rng(1)) == \
        pytest.approx(expected, rel=REL)


def test_interval_of_a_statistic_and_of_group_means_are_pinned():
    ds, same = _jnd_data()
    mapfn = lambda d, s: scoring.score_jnd(d, s)[0]  # noqa: E731
    assert bootstrap.bootstrap_interval((ds, same), statistic=mapfn, n_boot=200, seed=0) == \
        pytest.approx((0.8603255649115386, 0.9241995636059749), rel=REL)
    groups = _groups()
    assert bootstrap.bootstrap_interval_of_group_means(groups, n_boot=400, seed=0) == \
        pytest.approx((0.6041238168667139, 0.6473043644276986), rel=REL)
    assert scoring.bootstrap_ci_of_mean(groups, n_boot=400, seed=0) == \
        bootstrap.bootstrap_interval_of_group_means(groups, n_boot=400, seed=0)


def test_diversity_and_paired_difference_are_pinned():
    d = np.random.default_rng(4).uniform(0.2, 0.4, 45)
    images = diversity(d, n_boot=500, seed=1)
    assert (images.ci_low, images.ci_high) == pytest.approx(
        (0.29291252768919257, 0.3426260067967232), rel=REL)
    pairs = diversity(d, n_boot=500, seed=1, resample="pairs")
    assert (pairs.ci_low, pairs.ci_high) == pytest.approx(
        (0.30093597808436073, 0.3320397344244871), rel=REL)
    # resample="pairs" is the plain interval of the mean of the distances.
    assert (pairs.ci_low, pairs.ci_high) == bootstrap.bootstrap_interval(d, n_boot=500, seed=1)
    matrix = diversity(np.random.default_rng(5).uniform(0, 1, (4, 6)), n_boot=300, seed=2,
                       confidence=0.9)
    assert (matrix.ci_low, matrix.ci_high) == pytest.approx(
        (0.3436336291399812, 0.6330117165419243), rel=REL)
    a, b = paired_agreements(np.random.default_rng(3))
    diff, ci = paired_difference(a, b, n_boot=500)
    assert ci == pytest.approx((0.045, 0.11), rel=REL)
    assert ci == bootstrap.bootstrap_interval_of_group_means(
        [x - y for x, y in zip(a, b)], n_boot=500)


def test_alpha_still_works_with_one_deprecation_warning():
    scores = _scores()
    expected = bootstrap.bootstrap_interval(scores, n_boot=300, confidence=0.9, seed=1)
    a, b = paired_agreements(np.random.default_rng(3))
    calls = {
        "bootstrap_ci": lambda: scoring.bootstrap_ci(scores, n_boot=300, alpha=0.1, seed=1),
        "bootstrap_ci_of_mean": lambda: scoring.bootstrap_ci_of_mean([scores], n_boot=300,
                                                                     alpha=0.1, seed=1),
        "paired_difference": lambda: paired_difference([scores], [np.zeros(400)], n_boot=300,
                                                       alpha=0.1, seed=1)[1],
    }
    for name, call in calls.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert call() == pytest.approx(expected, rel=REL), name
        assert len(caught) == 1 and caught[0].category is DeprecationWarning, name
        message = str(caught[0].message)
        assert "\n" not in message and f"{name}(alpha=...)" in message
        assert "confidence=0.9" in message
        assert caught[0].filename == __file__  # Points at the caller's line.


def test_confidence_is_the_coverage():
    scores = _scores()
    narrow = bootstrap.bootstrap_interval(scores, n_boot=500, confidence=0.5, seed=1)
    wide = bootstrap.bootstrap_interval(scores, n_boot=500, confidence=0.99, seed=1)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]
    # A value below one half is an alpha passed as the level: refused, for every caller.
    for call in (lambda: bootstrap.bootstrap_interval(scores, n_boot=10, confidence=0.05),
                 lambda: bootstrap.bootstrap_interval_of_group_means([scores], confidence=1.0),
                 lambda: scoring.bootstrap_ci(scores, None, 10, 0.05),
                 lambda: diversity(scores[:45], confidence=0.05),
                 lambda: paired_difference([scores], [scores], confidence=0.05)):
        with pytest.raises(ValueError, match=r"confidence is the coverage .* Received: "
                                             r"confidence="):
            call()


def test_refusals_and_resampling_helpers():
    with pytest.raises(ValueError, match="empty set"):
        bootstrap.bootstrap_interval([])
    with pytest.raises(ValueError, match="equal length"):
        bootstrap.bootstrap_interval((np.ones(3), np.ones(4)), statistic=np.mean)
    with pytest.raises(ValueError, match="at least one group"):
        bootstrap.bootstrap_interval_of_group_means([])

    def never(x):
        raise ValueError("no")

    with pytest.raises(ValueError, match="every bootstrap resample"):
        bootstrap.bootstrap_interval(np.ones(5), statistic=never, n_boot=3)
    counts = bootstrap.resample_counts(7, 20, np.random.default_rng(0))
    assert counts.shape == (20, 7) and np.all(counts.sum(axis=1) == 7)
    # The means of the drawn resamples, drawn as one index matrix while it fits in a chunk.
    values = np.arange(10.0)
    means = bootstrap.resample_means(values, 9, np.random.default_rng(0))
    idx = np.random.default_rng(0).integers(0, 10, size=(9, 10))
    np.testing.assert_array_equal(means, values[idx].mean(axis=1))


def test_large_samples_are_resampled_in_chunks(monkeypatch):
    monkeypatch.setattr(bootstrap, "_INDEX_CHUNK", 40)  # 4 resamples of 10 per draw
    values = np.arange(10.0)
    means = bootstrap.resample_means(values, 9, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.integers(0, 10, size=(k, 10)) for k in (4, 4, 1)])
    np.testing.assert_array_equal(means, values[idx].mean(axis=1))
