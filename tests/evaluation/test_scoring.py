"""lpips_tf.evaluation.scoring: 2AFC / JND scores, bootstrap intervals, L2 and SSIM baselines.

Golden values were computed once with the official code paths in a torch + scikit-image 0.26
environment: `lpips.voc_ap` on the rankings below, and for the baselines
`skimage.color.rgb2lab` and `skimage.metrics.structural_similarity(a, b, data_range=R,
channel_axis=-1)` on the PNGs read as uint8, exactly as `lpips.l2` / `lpips.dssim` do.
Tolerance 1e-10 (float64 on both sides).
"""

import numpy as np
import pytest

from lpips_tf.evaluation import scoring
from conftest import ROOT, shared_path

PHOTOS = ROOT / "lpips_tf" / "data" / "photos"


# ---------------------------------------------------------------------------- 2AFC


def test_score_2afc_hand_computed():
    d0 = np.array([0.1, 0.5, 0.3, 0.2])
    d1 = np.array([0.2, 0.4, 0.3, 0.9])
    h = np.array([0.0, 1.0, 0.6, 0.8])
    score, details = scoring.score_2afc(d0, d1, h)
    # p0 closer & nobody preferred p1 -> 1; p1 closer & all preferred p1 -> 1;
    # tie -> 0.5; p0 closer but 80% preferred p1 -> 0.2.
    np.testing.assert_allclose(details["scores"], [1.0, 1.0, 0.5, 0.2])
    assert score == pytest.approx(2.7 / 4)


def test_score_2afc_flattens_and_checks_sizes():
    d0 = np.arange(6.0).reshape(6, 1, 1, 1)
    score, details = scoring.score_2afc(d0, d0[::-1], np.zeros((6, 1)))
    assert details["scores"].shape == (6,)
    assert score == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same number"):
        scoring.score_2afc([1.0, 2.0], [1.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="empty"):
        scoring.score_2afc([], [], [])


def test_human_ceiling():
    score, details = scoring.human_ceiling_2afc([0.0, 1.0, 0.5, 0.2])
    np.testing.assert_allclose(details["scores"], [1.0, 1.0, 0.5, 0.68])
    assert score == pytest.approx(3.18 / 4)


# ---------------------------------------------------------------------------- JND


def test_score_jnd_matches_official_voc_ap():
    ds = np.array([0.1, 0.4, 0.35, 0.8, 0.05, 0.6, 0.2, 0.9])
    same = np.array([1, 2 / 3, 1 / 3, 0, 1, 1 / 3, 2 / 3, 0])
    score, details = scoring.score_jnd(ds, same)
    assert score == pytest.approx(0.888425925925926, abs=1e-12)
    assert details["precision"].shape == (8,)

    rng = np.random.default_rng(3)
    ds, same = rng.random(200), np.round(rng.random(200) * 3) / 3
    assert scoring.score_jnd(ds, same)[0] == pytest.approx(0.5656466720577359, abs=1e-12)


def test_score_jnd_flattens_official_shapes():
    # The official script keeps (N, 1, 1, 1) distances and sorts them unflattened.
    rng = np.random.default_rng(0)
    ds, same = rng.random(50), rng.integers(0, 2, 50).astype(float)
    flat = scoring.score_jnd(ds, same)[0]
    assert scoring.score_jnd(ds.reshape(50, 1, 1, 1), same.reshape(50, 1))[0] == flat


def test_score_jnd_perfect_and_worst_ranking():
    same = np.array([1.0, 1.0, 0.0, 0.0])
    assert scoring.score_jnd([0.1, 0.2, 0.3, 0.4], same)[0] == pytest.approx(1.0)
    worst = scoring.score_jnd([0.4, 0.3, 0.2, 0.1], same)[0]
    assert worst < 0.6
    with pytest.raises(ValueError, match="no pair"):
        scoring.score_jnd([0.1, 0.2], [0.0, 0.0])


def test_average_precision_envelope():
    # Precision dips then recovers: the envelope takes the later maximum.
    ap = scoring.average_precision([0.5, 0.5, 1.0], [1.0, 0.5, 0.75])
    assert ap == pytest.approx(0.5 * 1.0 + 0.5 * 0.75)


# ---------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_mean():
    scores = np.random.default_rng(0).random(400)
    low, high = scoring.bootstrap_ci(scores, n_boot=500, seed=1)
    assert low < scores.mean() < high
    # Standard error of a uniform mean: 0.289 / sqrt(400) ~ 0.0144 -> 95% width ~ 0.057.
    assert 0.04 < high - low < 0.075
    assert scoring.bootstrap_ci(scores, n_boot=500, seed=1) == (low, high)
    assert scoring.bootstrap_ci(np.full(10, 0.7), n_boot=50) == pytest.approx((0.7, 0.7))


def test_bootstrap_ci_statistic_resamples_jointly():
    rng = np.random.default_rng(0)
    same = rng.integers(0, 2, 300).astype(float)
    ds = rng.random(300) + (1 - same) * 0.5  # informative distances
    score = scoring.score_jnd(ds, same)[0]
    low, high = scoring.bootstrap_ci(
        (ds, same), statistic=lambda d, s: scoring.score_jnd(d, s)[0], n_boot=200, seed=0)
    assert low < score < high <= 1.0


def test_bootstrap_ci_of_mean_of_groups():
    rng = np.random.default_rng(0)
    groups = [rng.random(300), 0.5 + 0.5 * rng.random(100)]
    low, high = scoring.bootstrap_ci_of_mean(groups, n_boot=400, seed=0)
    mean = np.mean([g.mean() for g in groups])
    assert low < mean < high
    assert high - low < 0.06


# ---------------------------------------------------------------------------- baselines


def test_rgb_to_lab_matches_skimage():
    pixels = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [10, 200, 30], [3, 3, 3]]) / 255.0
    expected = np.array([
        [0.0, 0.0, 0.0],
        [100.0, -2.45493786e-03, 4.65342115e-03],
        [53.2405879, 80.0923082, 67.2027510],
        [70.5001320, -70.5138311, 64.9408400],
        [0.822520488, -5.22213821e-05, 9.89856513e-05],
    ])
    np.testing.assert_allclose(scoring.rgb_to_lab(pixels), expected, rtol=1e-7, atol=1e-9)


# (image0, image1) -> (l2 in Lab, DSSIM in Lab, DSSIM in RGB) from the official definitions.
BASELINE_GOLDEN = {
    ("shared:ex_ref.png", "shared:ex_p0.png"): (0.004312538783593435, 0.2426196197626142, 0.261574899186668),
    ("shared:ex_ref.png", "shared:ex_p1.png"): (0.011719722408468936, 0.337924158194012, 0.3434218680812303),
    ("astronaut_97x131.png", "astronaut_97x131_noise.png"): (0.002095544985762484, 0.2440964126634776, 0.11763611865710866),
    ("chelsea_256.png", "chelsea_256_blur.png"): (0.00027226983523644685, 0.06978780862105904, 0.10962440795346273),
}


def load_image(path):
    """uint8 PNG -> float64 in [-1, 1] (float32 would cost the 1e-10 tolerance)."""
    import tensorflow as tf

    return tf.io.decode_png(tf.io.read_file(str(path)), channels=3).numpy() / 127.5 - 1.0


def _photo(name):
    if name.startswith("shared:"):
        return load_image(shared_path("images/" + name[len("shared:"):]))
    path = PHOTOS / name
    if not path.exists():
        pytest.skip(f"lpips_tf/data/photos/{name} is not present")
    return load_image(path)


@pytest.mark.parametrize("pair", list(BASELINE_GOLDEN), ids=lambda p: f"{p[0]}-{p[1]}".replace("shared:", ""))
def test_baselines_match_official_definitions(pair):
    x0, x1 = _photo(pair[0]), _photo(pair[1])
    l2_lab, dssim_lab, dssim_rgb = BASELINE_GOLDEN[pair]
    np.testing.assert_allclose(scoring.l2_distance(x0, x1), [l2_lab], rtol=1e-10)
    np.testing.assert_allclose(scoring.ssim_distance(x0, x1), [dssim_lab], rtol=1e-10)
    np.testing.assert_allclose(scoring.ssim_distance(x0, x1, "RGB"), [dssim_rgb], rtol=1e-10)


def test_baselines_batch_and_identity():
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (3, 16, 12, 3))
    x1 = np.clip(x0 + rng.normal(0, 0.1, x0.shape), -1, 1)
    batch = scoring.ssim_distance(x0, x1)
    single = [scoring.ssim_distance(x0[i], x1[i])[0] for i in range(3)]
    np.testing.assert_allclose(batch, single)
    np.testing.assert_allclose(scoring.ssim_distance(x0, x0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scoring.l2_distance(x0, x0), 0.0)
    np.testing.assert_allclose(scoring.l2_distance(x0, x1, "RGB"), np.mean((x0 - x1) ** 2, axis=(1, 2, 3)))
    assert np.all(batch > 0)


def test_baseline_errors():
    x = np.zeros((1, 8, 8, 3))
    with pytest.raises(ValueError, match="same shape"):
        scoring.l2_distance(x, np.zeros((1, 8, 9, 3)))
    with pytest.raises(ValueError, match="colorspace"):
        scoring.l2_distance(x, x, colorspace="HSV")
    with pytest.raises(ValueError, match="at least 7 x 7"):
        scoring.ssim_distance(np.zeros((1, 6, 6, 3)), np.zeros((1, 6, 6, 3)))
    with pytest.raises(ValueError, match="NHWC"):
        scoring.l2_distance(np.zeros((8, 8)), np.zeros((8, 8)))
