"""pairwise(): all-pairs LPIPS from one trunk pass per image, against the per-pair model."""

import pathlib

import numpy as np
import pytest

import lpips_tf
from lpips_tf.data.images import load_image
from lpips_tf.uses.pairwise import diversity, feature_size, pairwise

PHOTOS = pathlib.Path(__file__).resolve().parents[2] / "lpips_tf" / "data" / "photos"
TOL = 1e-5


@pytest.fixture(scope="module")
def alex_cos():
    return lpips_tf.LPIPS(net="alex", lpips=False, trunk_weights=None)


def per_pair(model, a, b):
    """The reference: model([x0, x1]) for every (i, j), one pair per call."""
    return np.array([[float(model([a[i:i + 1], b[j:j + 1]])[0]) for j in range(len(b))]
                     for i in range(len(a))], np.float64)


def per_pair_condensed(model, x):
    """The reference for one set, pairs i < j in pdist order."""
    i, j = np.triu_indices(len(x), 1)
    return np.array([float(model([x[a:a + 1], x[b:b + 1]])[0]) for a, b in zip(i, j)])


def condensed_of(square):
    return square[np.triu_indices(len(square), 1)]


def images_with_near_duplicates(seed=0, size=48):
    """Smooth random images, plus an exact copy and two copies with tiny noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1, 1, (4, size // 8, size // 8, 3))
    x = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    x = np.clip(x + 0.2 * rng.standard_normal(x.shape), -1, 1)
    near = np.clip(x[1] + 1e-3 * rng.standard_normal(x[1].shape), -1, 1)
    nearer = np.clip(x[2] + 1e-5 * rng.standard_normal(x[2].shape), -1, 1)
    return np.concatenate([x, x[:1], near[None], nearer[None]]).astype(np.float32)


def photos_64():
    crops = []
    for name in ("astronaut_64.png", "coffee_64.png", "chelsea_256.png", "chelsea_256_blur.png",
                 "rocket_256.png"):
        image = load_image(PHOTOS / name)
        top, left = (image.shape[0] - 64) // 2, (image.shape[1] - 64) // 2
        crops.append(image[top:top + 64, left:left + 64])
    return np.stack(crops).astype(np.float32)


@pytest.mark.parametrize("model_name", ["alex", "alex_cos"])
def test_condensed_matches_per_pair_model_including_identical_and_near_identical(
        model_name, request):
    model = request.getfixturevalue(model_name)
    x = images_with_near_duplicates()
    d = pairwise(model, x, batch_size=3)
    n = len(x)
    assert d.shape == (n * (n - 1) // 2,) and d.dtype == np.float64
    reference = np.zeros((n, n))
    reference[np.triu_indices(n, 1)] = per_pair_condensed(model, x)
    np.testing.assert_allclose(d, condensed_of(reference), rtol=0, atol=TOL)
    square = np.zeros((n, n))
    square[np.triu_indices(n, 1)] = d
    assert square[0, 4] < 1e-7  # identical images
    for i, j in ((1, 5), (2, 6)):  # image vs image + 1e-3 noise, + 1e-5 noise
        assert abs(square[i, j] - reference[i, j]) < TOL
        assert square[i, j] > 0 or reference[i, j] < 1e-9


def test_two_sets_matrix_on_photographs(alex):
    photos = photos_64()
    rng = np.random.default_rng(3)
    noisy = np.clip(photos[:3] + 1e-3 * rng.standard_normal(photos[:3].shape), -1, 1)
    b = np.concatenate([noisy, photos[3:4]]).astype(np.float32)
    d = pairwise(alex, photos, b, batch_size=2)
    assert d.shape == (5, 4)
    np.testing.assert_allclose(d, per_pair(alex, photos, b), rtol=0, atol=TOL)
    # A list of (H, W, 3) images is accepted as a set.
    np.testing.assert_array_equal(pairwise(alex, list(photos), list(b), batch_size=2), d)


def test_square_form_and_pdist_order(alex_cos):
    x = images_with_near_duplicates(seed=1, size=40)[:5]
    square = pairwise(alex_cos, x, condensed=False)
    condensed = pairwise(alex_cos, x)
    assert square.shape == (5, 5)
    np.testing.assert_array_equal(np.diag(square), 0)
    np.testing.assert_array_equal(square, square.T)
    np.testing.assert_allclose(condensed_of(square), condensed, rtol=0, atol=1e-12)
    # pdist order: (0,1), (0,2), ..., (0,4), (1,2), ...
    np.testing.assert_allclose(condensed[4], square[1, 2], rtol=0, atol=1e-12)


def test_memory_bounded_path_gives_the_same_numbers(alex, tmp_path):
    x = images_with_near_duplicates(seed=2)
    in_ram = pairwise(alex, x)
    on_disk = pairwise(alex, x, max_memory_bytes=1, block_size=2, temp_dir=tmp_path)
    np.testing.assert_allclose(on_disk, in_ram, rtol=0, atol=1e-12)
    rect = pairwise(alex, x[:3], x[3:], max_memory_bytes=1, block_size=2, temp_dir=tmp_path)
    np.testing.assert_allclose(rect, pairwise(alex, x[:3], x[3:]), rtol=0, atol=1e-12)
    assert list(tmp_path.iterdir()) == []  # the memmaps are removed


def test_each_image_goes_through_the_trunk_once(monkeypatch):
    model = lpips_tf.LPIPS(net="alex", trunk_weights=None)
    batches = []
    trunk = model.trunk

    class CountingTrunk:
        def __call__(self, x, **kwargs):
            batches.append(int(x.shape[0]))
            return trunk(x, **kwargs)

        def __getattr__(self, name):
            return getattr(trunk, name)

    # Through the instance __dict__: on PyTorch a Keras layer is a torch.nn.Module, whose
    # __setattr__ only takes Modules for a child's name; plain attribute lookup finds __dict__ first.
    monkeypatch.setitem(model.__dict__, "trunk", CountingTrunk())
    x = images_with_near_duplicates(seed=4, size=32)
    pairwise(model, x[:5], x[5:], batch_size=3)
    assert batches == [3, 2, 2]
    batches.clear()
    pairwise(model, x, batch_size=4)
    assert batches == [4, 3]


def test_uint8_and_normalize_follow_the_model(alex):
    rng = np.random.default_rng(5)
    x8 = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    as_float = x8.astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(pairwise(alex, x8), pairwise(alex, as_float), rtol=0, atol=1e-7)
    unit = lpips_tf.LPIPS(net="alex", trunk_weights=None, normalize=True)
    x01 = (as_float + 1) / 2
    np.testing.assert_allclose(pairwise(unit, x01), per_pair_condensed(unit, x01),
                               rtol=0, atol=TOL)


def test_progress_bar(alex, capsys):
    pairwise(alex, images_with_near_duplicates(size=32)[:3], verbose=1)
    assert "3/3" in capsys.readouterr().out


def test_refusals(alex):
    x = images_with_near_duplicates(size=32)[:3]
    spatial = lpips_tf.LPIPS(net="alex", trunk_weights=None, spatial=True)
    with pytest.raises(ValueError, match="non-spatial"):
        pairwise(spatial, x)
    with pytest.raises(ValueError, match="same size"):
        pairwise(alex, [x[0], x[1], x[2, :31, :31]])
    with pytest.raises(ValueError, match="4-D"):
        pairwise(alex, x[0])
    with pytest.raises(ValueError, match="3 \\(RGB\\) channels"):
        pairwise(alex, x[..., :1])
    with pytest.raises(ValueError, match="too small"):
        pairwise(alex, x[:, :16, :16])
    with pytest.raises(ValueError, match="same height and width"):
        pairwise(alex, x, x[:, :31, :31])
    with pytest.raises(ValueError, match="condensed=True applies to one set"):
        pairwise(alex, x, x, condensed=True)
    bad = x.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"images_a\[1\] contains NaN"):
        pairwise(alex, bad)
    with pytest.raises(ValueError, match="far outside"):
        pairwise(alex, x, x * 255)
    with pytest.raises(TypeError, match="LPIPS model"):
        pairwise(object(), x)


def test_feature_size_counts_nonzero_lin_channels(alex, alex_cos):
    # 64 x 64 AlexNet taps: 15x15, 7x7, 3x3, 3x3, 3x3; the cosine model keeps all 1152 channels.
    positions = (225, 49, 9, 9, 9)
    assert feature_size(alex_cos, 64, 64) == sum(p * c for p, c in zip(positions, alex.channels))
    kept = [int((w > 0).sum()) for w in alex.get_lin_weights()]
    assert feature_size(alex, 64, 64) == sum(p * c for p, c in zip(positions, kept))


def test_diversity():
    rng = np.random.default_rng(0)
    d = rng.uniform(0.2, 0.4, 45)  # 10 images, condensed
    result = diversity(d, n_boot=500, seed=1)
    assert result.n_pairs == 45
    assert result.mean == pytest.approx(d.mean()) and result.std == pytest.approx(d.std(ddof=1))
    assert result.ci_low < result.mean < result.ci_high
    assert diversity(d, n_boot=500, seed=1) == result  # seeded
    pairs = diversity(d, n_boot=500, seed=1, resample="pairs")
    assert pairs.mean == result.mean and pairs.ci_low < pairs.mean < pairs.ci_high
    matrix = rng.uniform(0, 1, (4, 6))
    assert diversity(matrix).n_pairs == 24 and diversity(matrix).mean == pytest.approx(
        matrix.mean())
    square = np.zeros((10, 10))
    square[np.triu_indices(10, 1)] = d
    with pytest.raises(ValueError, match="condensed"):
        diversity(square + square.T)
    with pytest.raises(ValueError, match="n\\(n-1\\)/2"):
        diversity(d[:44])
    assert diversity(d[:44], resample="pairs").n_pairs == 44


def test_diversity_image_bootstrap_matches_explicit_resampling():
    """The count-vector shortcut equals averaging the drawn images' pairs directly."""
    rng = np.random.default_rng(7)
    n = 6
    d = rng.uniform(0, 1, n * (n - 1) // 2)
    square = np.zeros((n, n))
    square[np.triu_indices(n, 1)] = d
    square += square.T
    draws = np.random.default_rng(3)
    explicit = []
    for _ in range(200):
        idx = draws.integers(0, n, n)
        sub = square[np.ix_(idx, idx)]
        distinct = idx[:, None] != idx[None, :]
        explicit.append(sub[distinct].mean())
    low, high = np.quantile(explicit, [0.025, 0.975])
    result = diversity(d, n_boot=200, seed=3)
    assert result.ci_low == pytest.approx(low) and result.ci_high == pytest.approx(high)
