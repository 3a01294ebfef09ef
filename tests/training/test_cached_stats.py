"""Cached channel statistics (`lpips_tf.training.cached_stats`): exactness
against the model, cache invalidation, and training on them."""

import os

import numpy as np
import pytest

import lpips_tf
from lpips_tf.training.cached_stats import CachedLin, compute_triplet_stats, fingerprint
from lpips_tf.data.bapps import index_2afc, twoafc_dataset
from conftest import run_train_main, saved_model_export_skipped, synthetic_dataset


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    return synthetic_dataset(tmp_path_factory, "cached_data", n_train=0, n_val=24, n_jnd=0,
                             patch=48, seed=3)


def test_stats_reproduce_distances_and_cache(small_dataset, random_trunk_file, tmp_path, capsys):
    model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    index = index_2afc(small_dataset, ["val/traditional"])
    stats = compute_triplet_stats(model, index, load_size=48, batch_size=10,
                                  cache_dir=str(tmp_path), verbose=0)
    assert stats["s0"].shape == (24, 1152) and stats["s1"].shape == (24, 1152)
    images, judge = next(iter(twoafc_dataset(index, load_size=48, batch_size=24)))
    w = np.concatenate(model.get_lin_weights())
    np.testing.assert_allclose(stats["s0"] @ w, np.asarray(model([images["ref"], images["p0"]])),
                               rtol=1e-5)
    np.testing.assert_allclose(stats["s1"] @ w, np.asarray(model([images["ref"], images["p1"]])),
                               rtol=1e-5)
    np.testing.assert_array_equal(stats["judge"], np.asarray(judge))
    # One statistics file, and an alias per shorter prefix of the taps (see test_taps.py).
    files = sorted(os.listdir(tmp_path))
    assert sum(f.endswith(".npz") for f in files) == 1
    assert sum(f.endswith(".alias.json") for f in files) == 4, files

    # A second call reads the cache.
    again = compute_triplet_stats(model, index, load_size=48, cache_dir=str(tmp_path), verbose=1)
    assert "from cache" in capsys.readouterr().out
    np.testing.assert_array_equal(again["s0"], stats["s0"])


def test_fingerprint_changes_with_data_trunk_and_size(small_dataset, random_trunk_file):
    index = index_2afc(small_dataset, ["val/traditional"])
    model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    key = fingerprint(model, index, 48)
    assert fingerprint(model, index, 48) == key
    assert fingerprint(model, index, 64) != key
    other = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex", seed=1))
    assert fingerprint(other, index, 48) != key
    touched = index.p1[0]
    stat = os.stat(touched)
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert fingerprint(model, index, 48) != key


def test_cached_lin_splits_back_into_lin_vectors():
    layer = CachedLin((3, 2))
    layer.build((None, 5))
    layer.kernel.assign(np.arange(5, dtype=np.float32))
    a, b = layer.lin_vectors()
    np.testing.assert_array_equal(a, [0, 1, 2])
    np.testing.assert_array_equal(b, [3, 4])
    np.testing.assert_allclose(np.asarray(layer(np.ones((2, 5), np.float32))), [10.0, 10.0])
    clone = CachedLin.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


# ------------------------------------------------------------------------------------------------
# Training on cached statistics (train.py --cached_stats).

TRAIN, VAL = "train/traditional", "val/traditional"


@pytest.fixture(scope="module")
def train_dataset(tmp_path_factory):
    return synthetic_dataset(tmp_path_factory, "cached_train_data", n_train=120, n_val=60,
                             n_jnd=0, patch=48, seed=3)


def _config(data_dir, trunk, out_dir, **overrides):
    from lpips_tf import training

    settings = dict(data_dir=data_dir, variant="alex-lin", train_sets=TRAIN, val_sets=VAL,
                    trunk_weights=trunk, epochs=2, epochs_decay=1, load_size=48, dropout=0.0,
                    lr=3e-3, seed=1, out_dir=str(out_dir), verbose=2)
    settings.update(overrides)
    return training.TrainConfig(**settings)


@pytest.fixture(scope="module")
def cached_and_end_to_end(train_dataset, random_trunk_file, tmp_path_factory):
    """A cached run and an end-to-end run with the same settings (dropout off on both)."""
    from lpips_tf import training

    out = tmp_path_factory.mktemp("cached_runs")
    trunk = random_trunk_file("alex")
    lines = []
    cached = training.train(_config(train_dataset, trunk, out / "cached", cached_stats=True),
                            log=lines.append)
    with saved_model_export_skipped():  # compared by numbers only
        end_to_end = training.train(_config(train_dataset, trunk, out / "e2e"),
                                    log=lambda _: None)
    return {"cached": cached, "e2e": end_to_end, "log": lines, "out": out, "trunk": trunk}


def test_cached_run_takes_the_end_to_end_steps(cached_and_end_to_end):
    cached, e2e = cached_and_end_to_end["cached"], cached_and_end_to_end["e2e"]
    assert [r["epoch"] for r in cached["history"]] == [1, 2, 3]
    # Same start, same batches, same schedule: the same optimisation, to float32 rounding.
    for a, b in zip(cached["history"], e2e["history"]):
        assert set(a) == set(b)
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(np.concatenate(cached["distance_model"].get_lin_weights()),
                               np.concatenate(e2e["distance_model"].get_lin_weights()),
                               rtol=1e-3, atol=1e-6)
    # The lin weights did move (so the comparison above means something).
    start = np.concatenate(lpips_tf.LPIPS(net="alex", trunk_weights=None).get_lin_weights())
    assert not np.allclose(np.concatenate(cached["distance_model"].get_lin_weights()), start)


def test_cached_run_writes_the_usual_files_and_its_model_scores_what_was_logged(
        cached_and_end_to_end, train_dataset):
    import json

    import keras
    from lpips_tf.training import two_afc_scores

    result = cached_and_end_to_end["cached"]
    run_dir = result["run_dir"]
    assert {"saved_model", "model.keras", "judgment_model.keras", "lin_weights.npz",
            "history.csv", "accuracy.png", "loss.png", "config.json"} <= set(os.listdir(run_dir))
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    assert config["cached_stats"] is True and config["flags"]["cached_stats"] is True
    assert config["dropout_mode"].startswith("none: cached statistics")
    assert config["stats_cache"]["train"]["from_cache"] is False
    assert config["status"] == "finished"

    # The exported distance scores the validation set exactly as the cached run logged it.
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    index = index_2afc(train_dataset, [VAL])
    d0, d1, judge = [], [], []
    for images, h in twoafc_dataset(index, load_size=48, batch_size=30):
        d0.append(np.asarray(model([images["ref"], images["p0"]])))
        d1.append(np.asarray(model([images["ref"], images["p1"]])))
        judge.append(np.asarray(h))
    d0, d1, judge = map(np.concatenate, (d0, d1, judge))
    score = float(np.mean(np.asarray(two_afc_scores(d0, d1, judge))))
    assert abs(score - result["saved_val_two_afc"]) < 1e-6
    # ... because its distances are the cached statistics times the learned kernel.
    kernel = result["model"].get_layer("lin").lin_vectors()
    with np.load(os.path.join(run_dir, "lin_weights.npz")) as saved:
        for k, vector in enumerate(kernel):
            np.testing.assert_array_equal(saved[f"lin{k}"], vector)
    stats = compute_triplet_stats(model, index, load_size=48, verbose=0)
    w = np.concatenate(kernel)
    np.testing.assert_allclose(stats["s0"] @ w, d0, rtol=1e-5)
    np.testing.assert_allclose(stats["s1"] @ w, d1, rtol=1e-5)

    # The judgment model takes images and holds the trained judgment network.
    judgment_model = keras.saving.load_model(os.path.join(run_dir, "judgment_model.keras"))
    images, _ = next(iter(twoafc_dataset(index, load_size=48, batch_size=8)))
    expected = result["model"]({"s0": stats["s0"][:8], "s1": stats["s1"][:8]})["judgment"]
    np.testing.assert_allclose(np.asarray(judgment_model(images)["judgment"]),
                               np.asarray(expected), rtol=1e-4)


def test_second_cached_run_reads_the_cache_through_the_cli(cached_and_end_to_end, train_dataset,
                                                            capsys, no_saved_model_export):
    import json

    cache_dir = cached_and_end_to_end["out"] / "cached" / ".stats_cache"
    files = sorted(os.listdir(cache_dir))
    # Train and val, each with an alias per shorter prefix of alex's 5 taps.
    assert sum(f.endswith(".npz") for f in files) == 2 and len(files) == 2 + 2 * 4, files
    mtimes = [os.stat(cache_dir / f).st_mtime_ns for f in files]
    out_dir = cached_and_end_to_end["out"] / "cli"
    code = run_train_main("--data_dir", train_dataset, "--train_sets", TRAIN, "--val_sets", VAL,
                       "--trunk_weights", cached_and_end_to_end["trunk"], "--epochs", "1",
                       "--epochs_decay", "0", "--load_size", "48", "--lr", "3e-3", "--seed", "1",
                       "--verbose", "2", "--cached_stats", "--stats_cache_dir", str(cache_dir),
                       "--out_dir", str(out_dir))
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("Channel statistics from cache") == 2, out
    assert sorted(os.listdir(cache_dir)) == files
    assert [os.stat(cache_dir / f).st_mtime_ns for f in files] == mtimes
    with open(out_dir / "alex-lin" / "config.json") as f:
        config = json.load(f)
    assert config["stats_cache"]["train"]["from_cache"] is True
    assert config["stats_cache"]["val"]["from_cache"] is True
    # Same seed and settings as the first cached run: its first epoch again.
    first = cached_and_end_to_end["cached"]["history"][0]
    with open(out_dir / "alex-lin" / "history.csv") as f:
        header, row = f.read().splitlines()[:2]
    logged = dict(zip(header.split(","), map(float, row.split(","))))
    assert logged["loss"] == pytest.approx(first["loss"], rel=1e-6)


def test_cached_stats_is_refused_where_it_does_not_apply(train_dataset, tmp_path, capsys):
    from lpips_tf import training

    for variant in ("alex-tune", "vgg-scratch"):
        with pytest.raises(training.ConfigError,
                           match=rf"cached_stats needs a frozen trunk \(any variant but "
                                 rf"alex-scratch, alex-tune, vgg-scratch, vgg-tune\); "
                                 rf"{variant} trains its trunk"):
            training.train(_config(train_dataset, None, tmp_path, variant=variant,
                                   cached_stats=True))
    with pytest.raises(training.ConfigError, match="alex-cos is a cosine distance"):
        training.train(_config(train_dataset, None, tmp_path, variant="alex-cos",
                               cached_stats=True, cached_dropout=0.2))
    with pytest.raises(training.ConfigError, match="default strategy only"):
        training.train(_config(train_dataset, None, tmp_path, cached_stats=True,
                               strategy="mirrored"))
    with pytest.raises(training.ConfigError, match="applies only with cached_stats=True"):
        training.train(_config(train_dataset, None, tmp_path, cached_dropout=0.2))
    assert run_train_main("--data_dir", train_dataset, "--variant", "alex-tune", "--cached_stats",
                       "--out_dir", str(tmp_path)) == 2
    assert "alex-tune trains its trunk" in capsys.readouterr().err
    assert run_train_main("--data_dir", train_dataset, "--cached_stats", "--dropout", "0.5",
                       "--out_dir", str(tmp_path)) == 2
    assert "use --cached_dropout" in capsys.readouterr().err
    assert not os.listdir(tmp_path), "nothing is written for a refused run"


def test_interrupted_cached_run_resumes_to_the_same_history(cached_and_end_to_end,
                                                            train_dataset, tmp_path,
                                                            no_saved_model_export):
    import keras
    from lpips_tf import training

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("stopped after epoch 1")

    config = _config(train_dataset, cached_and_end_to_end["trunk"], tmp_path, cached_stats=True,
                     stats_cache_dir=str(cached_and_end_to_end["out"] / "cached" / ".stats_cache"))
    with pytest.raises(KeyboardInterrupt):
        training.train(config, callbacks=[Interrupt()], log=lambda _: None)
    lines = []
    resumed = training.train(config, log=lines.append)
    assert any(line.startswith("Resuming") for line in lines), lines
    reference = cached_and_end_to_end["cached"]["history"]
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3]
    for a, b in zip(resumed["history"], reference):
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-6, err_msg=key)


# ------------------------------------------------------------------ a cache that cannot lie


def _padded_png(path, array, size):
    """Writes `array` as a PNG of exactly `size` bytes (a tEXt chunk fills the rest), so that two
    different images can have one byte size."""
    import io
    import struct
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buf, format="PNG")
    data = buf.getvalue()
    text = b"pad\0" + b"x" * (size - len(data) - 16)
    assert len(text) >= 4, "size too small for this image"
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(
        ">I", zlib.crc32(b"tEXt" + text))
    data = data[:-12] + chunk + data[-12:]  # before IEND
    assert len(data) == size
    with open(path, "wb") as f:
        f.write(data)


PNG_SIZE = 10_000


def _padded_2afc(root, n=4, size=48):
    rng = np.random.default_rng(5)
    folder = os.path.join(root, "2afc", "val", "toy")
    for part in ("ref", "p0", "p1", "judge"):
        os.makedirs(os.path.join(folder, part))
    for i in range(n):
        for part in ("ref", "p0", "p1"):
            _padded_png(os.path.join(folder, part, f"{i:06d}.png"),
                        rng.integers(0, 256, (size, size, 3)), PNG_SIZE)
        np.save(os.path.join(folder, "judge", f"{i:06d}.npy"), np.array([0.25]))
    return index_2afc(str(root), ["val/toy"])


@pytest.fixture
def cache_case(tmp_path, random_trunk_file):
    """(model, index, cache folder, first statistics, a function computing them again and
    returning (stats, logged lines))."""
    model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    index = _padded_2afc(tmp_path / "data")
    cache = tmp_path / "cache"

    def compute(m=model):
        lines = []
        stats = compute_triplet_stats(m, index, load_size=48, batch_size=4,
                                      cache_dir=str(cache), verbose=2, log=lines.append)
        return stats, lines

    first, _ = compute()
    assert not first["from_cache"]
    return model, index, cache, first, compute


def _resave(path, **changes):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    np.savez(path, **arrays)


def test_cache_with_replaced_numbers_fails_its_checksum_and_is_recomputed(cache_case):
    model, index, cache, first, compute = cache_case
    path = first["cache_file"]
    with np.load(path) as data:
        s0 = data["s0"]
    _resave(path, s0=s0 * 0.5)  # same fingerprint and format, other numbers
    again, lines = compute()
    assert not again["from_cache"]
    assert lines[0] == (f"Cached statistics {path} fail their checksum (the numbers changed after "
                        f"they were stored): recomputing."), lines
    np.testing.assert_array_equal(again["s0"], first["s0"])
    assert compute()[0]["from_cache"]  # rewritten whole


def test_truncated_cache_is_recomputed(cache_case):
    model, index, cache, first, compute = cache_case
    path = first["cache_file"]
    data = open(path, "rb").read()
    open(path, "wb").write(data[:len(data) // 2])
    again, lines = compute()
    assert not again["from_cache"]
    assert lines[0].startswith(f"Cached statistics {path} are damaged (") and lines[0].endswith(
        "): recomputing."), lines
    np.testing.assert_array_equal(again["s1"], first["s1"])


def test_alias_checks_the_deeper_files_fingerprint(cache_case):
    from lpips_tf.training.cached_stats import stats_checksum

    model, index, cache, first, compute = cache_case
    four = lpips_tf.LPIPS(net="alex", trunk_weights=None, taps=4)
    four.trunk.set_weights(model.trunk.get_weights()[:len(four.trunk.get_weights())])
    served, _ = compute(four)
    assert served["from_cache"] and served["cache_file"] == first["cache_file"]
    # The deeper file now holds statistics stored under another fingerprint (another data set,
    # say), with a checksum that matches them: the alias must not serve its columns.
    other = "0" * 64
    with np.load(first["cache_file"]) as data:
        s0, s1, judge = data["s0"] + 1, data["s1"], data["judge"]
    _resave(first["cache_file"], s0=s0, fingerprint=other,
            checksum=stats_checksum(s0, s1, judge, other))
    again, _ = compute(four)
    assert not again["from_cache"]
    np.testing.assert_allclose(again["s0"], first["s0"][:, :896], rtol=1e-5, atol=1e-7)


def test_image_rewritten_with_same_size_and_mtime_is_seen(cache_case):
    model, index, cache, first, compute = cache_case
    path = index.ref[0]
    before = os.stat(path)
    _padded_png(path, np.full((48, 48, 3), 200), PNG_SIZE)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again, _ = compute()
    assert not again["from_cache"]
    # The first triplet's statistics changed (its reference is now flat grey), the others not.
    assert np.abs(again["s0"][0] - first["s0"][0]).max() > 1e-3
    np.testing.assert_allclose(again["s0"][1:], first["s0"][1:], rtol=1e-5, atol=1e-7)
