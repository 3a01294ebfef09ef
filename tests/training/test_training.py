"""Whole training runs (`lpips_tf.training.loop.train`): resume after a kill, SavedModel, mirrored
and multi-worker strategies, the cosine variants, plots and config.json, clear errors.

The pieces have their own files: test_judgment.py, test_schedule.py, test_variants.py,
test_run_folder.py, test_cached_stats.py.

Data: the synthetic BAPPS-layout `dataset` of conftest (100 train / 50 val triplets, 64 px,
simulated observers).
Trunks: seeded random AlexNet weights, so nothing here needs ../shared or a download. The runs in
subprocesses (train.py killed and resumed, a MirroredStrategy run on two logical CPUs, a
SavedModel consumer without lpips_tf) share module fixtures; the uninterrupted reference run is
conftest's session-wide `finished_run`. Those runs and every reader of `finished_run` are marked
slow (`-m slow`); the default run keeps the in-process ones.
"""

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
import keras

import lpips_tf
from lpips_tf import training
from lpips_tf.training import callbacks
from conftest import FINISHED_RUN, ROOT, run_train_main

TRAIN = "train/traditional"
VAL = "val/traditional"


# ------------------------------------------------------------------------------------------------
# Fixtures and helpers.


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2",
               CUDA_VISIBLE_DEVICES="-1")
    env.pop(callbacks.KILL_ENV, None)
    env.update(extra)
    return env


def _run(args, timeout=300, cwd=ROOT, **env):
    return subprocess.run([sys.executable, *args], cwd=str(cwd), env=_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def _history(run_dir):
    with open(os.path.join(run_dir, "history.csv"), newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _config(run_dir):
    with open(os.path.join(run_dir, "config.json")) as f:
        return json.load(f)


def _train_cli(dataset, trunk, out_dir, **flags):
    """train.py's command line for conftest's `finished_run` settings, changed by `flags`."""
    args = ["train.py", "--data_dir", dataset, "--trunk_weights", trunk, "--out_dir", str(out_dir)]
    for key, value in {**FINISHED_RUN, **flags}.items():
        args += [f"--{key}", str(value)]
    return args


def _train_in_process(args):
    """train.py's `main` on `args` (without the script name) in this process: what `_run` returns
    (returncode, stdout, stderr) without a second TensorFlow start-up."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = run_train_main(*args[1:])
    return types.SimpleNamespace(returncode=code, stdout=stdout.getvalue(),
                                 stderr=stderr.getvalue())


@pytest.fixture(scope="module")
def resumed_runs(dataset, random_trunk_file, tmp_path_factory, finished_run):
    """train.py killed after epoch 1 of 3 (a child process) and rerun (in this process); the
    uninterrupted reference with the same settings is conftest's `finished_run`."""
    trunk = random_trunk_file("alex")
    out = tmp_path_factory.mktemp("resume")
    killed = _run(_train_cli(dataset, trunk, out / "interrupted"),
                  **{callbacks.KILL_ENV: "1"})
    run_dir = str(out / "interrupted" / "alex-lin")
    after_kill = {
        "returncode": killed.returncode,
        "output": killed.stdout + killed.stderr,
        "history": _history(run_dir) if os.path.exists(os.path.join(run_dir, "history.csv"))
        else [],
        "config": _config(run_dir),
        "files": sorted(os.listdir(run_dir)),
    }
    resumed = _train_in_process(_train_cli(dataset, trunk, out / "interrupted"))
    return {"after_kill": after_kill, "resumed": resumed, "run_dir": run_dir,
            "reference_dir": finished_run["run_dir"], "trunk": trunk}


MIRRORED_CHILD = textwrap.dedent("""
    import json, os, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    from lpips_tf import training
    from lpips_tf.training import artefacts
    data_dir, trunk, out_dir = sys.argv[1:4]
    histories = {}
    for strategy in ("mirrored", "default"):
        if strategy == "default":  # the reference numbers only: no SavedModel to export
            artefacts.export_saved_model = lambda model, path: os.makedirs(path)
        result = training.train(training.TrainConfig(
            data_dir=data_dir, variant="alex-lin", train_sets="train/traditional",
            val_sets="val/traditional", trunk_weights=trunk, epochs=1, epochs_decay=0,
            batch_size=20, steps_per_epoch=2, dropout=0.0, out_dir=f"{out_dir}/{strategy}",
            strategy=strategy, verbose=2))
        histories[strategy] = result["history"]
    print("RESULT", json.dumps({"histories": histories,
                               "devices": [d.name for d in tf.config.list_logical_devices("CPU")]}))
""")


@pytest.fixture(scope="module")
def mirrored_run(dataset, random_trunk_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored")
    proc = _run(["-c", MIRRORED_CHILD, dataset, random_trunk_file("alex"), str(out)])
    return {"proc": proc, "run_dir": str(out / "mirrored" / "alex-lin")}


@pytest.fixture(scope="module")
def cosine_run(dataset, random_trunk_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("cosine")
    config = training.TrainConfig(
        data_dir=dataset, variant="alex-cos", train_sets=TRAIN, val_sets=VAL,
        trunk_weights=random_trunk_file("alex"), epochs=2, epochs_decay=1, batch_size=25,
        lr=1e-2, out_dir=str(out), verbose=0)
    lines = []
    result = training.train(config, log=lines.append)
    return {"result": result, "log": lines, "run_dir": str(out / "alex-cos"),
            "trunk": random_trunk_file("alex")}


# ------------------------------------------------------------------------------------------------
# Whole runs.


def test_cosine_variant_trains_only_the_head_and_its_2afc_score_is_fixed(cosine_run):
    result, run_dir = cosine_run["result"], cosine_run["run_dir"]
    rows = result["history"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    val = [r["val_two_afc"] for r in rows]
    np.testing.assert_allclose(val, val[0], rtol=0, atol=1e-7)
    # The head does learn: the loss moves while the score cannot.
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    assert result["distance_model"].trainable_weights == []
    assert any("only the judgment network G trains" in line for line in cosine_run["log"])
    config = _config(run_dir)
    assert config["trains"].startswith("judgment network G only")
    assert config["status"] == "finished" and config["data"]["synthetic"] is True
    assert "SYNTHETIC" in config["data"]["note"]
    files = set(os.listdir(run_dir))
    assert "lin_weights.npz" not in files
    assert {"saved_model", "model.keras", "judgment_model.keras", "history.csv", "accuracy.png",
            "loss.png", "config.json"} <= files
    # The saved distance is the untrained cosine distance.
    untrained = lpips_tf.LPIPS(net="alex", lpips=False, trunk_weights=cosine_run["trunk"])
    loaded = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    rng = np.random.default_rng(1)
    x0, x1 = (rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(np.asarray(loaded([x0, x1])), np.asarray(untrained([x0, x1])),
                               rtol=1e-5)


@pytest.mark.slow
def test_killed_run_resumes_where_it_stopped(resumed_runs):
    after_kill = resumed_runs["after_kill"]
    assert after_kill["returncode"] == callbacks.KILL_EXIT_CODE, after_kill["output"][-3000:]
    assert [r["epoch"] for r in after_kill["history"]] == [1]
    assert after_kill["config"]["status"] == "running"
    assert "backup" in after_kill["files"] and "saved_model" not in after_kill["files"]

    resumed = resumed_runs["resumed"]
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout and "after epoch 1" in resumed.stdout
    assert "Epoch 1/3" not in resumed.stdout and "Epoch 2/3" in resumed.stdout
    run_dir = resumed_runs["run_dir"]
    rows = _history(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]  # history.csv counts from 1
    # Optimizer state came back with the weights: epoch 3 runs at the decayed rate.
    np.testing.assert_allclose([r["learning_rate"] for r in rows], [1e-3, 1e-3, 5e-4], rtol=1e-6)
    config = _config(run_dir)
    assert config["status"] == "finished" and config["epochs_trained"] == 3
    assert [r["after_epoch"] for r in config["resumed"]] == [1]
    assert config["started"] == after_kill["config"]["started"]
    assert 1 <= config["saved_epoch"] <= 3
    files = set(os.listdir(run_dir))
    assert "backup" not in files
    assert {"saved_model", "model.keras", "judgment_model.keras", "lin_weights.npz",
            "history.csv", "accuracy.png", "loss.png", "config.json"} <= files

    # With dropout 0, resuming changes nothing: same per-epoch numbers, same final weights.
    ref_rows = _history(resumed_runs["reference_dir"])
    for key in ("loss", "two_afc", "val_loss", "val_two_afc", "learning_rate"):
        np.testing.assert_allclose([r[key] for r in rows], [r[key] for r in ref_rows],
                                   rtol=1e-5, atol=1e-6, err_msg=key)
    with np.load(os.path.join(run_dir, "lin_weights.npz")) as a, \
            np.load(os.path.join(resumed_runs["reference_dir"], "lin_weights.npz")) as b:
        assert sorted(a.files) == [f"lin{k}" for k in range(5)]
        for key in a.files:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_saved_files_agree_with_each_other(resumed_runs):
    run_dir = resumed_runs["run_dir"]
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    assert isinstance(model, lpips_tf.LPIPS)
    from_npz = lpips_tf.LPIPS(net="alex", trunk_weights=resumed_runs["trunk"],
                              lin_weights=os.path.join(run_dir, "lin_weights.npz"))
    judgment = keras.saving.load_model(os.path.join(run_dir, "judgment_model.keras"))
    assert isinstance(judgment, training.TwoAFCModel)
    rng = np.random.default_rng(2)
    x = {k: rng.uniform(-1, 1, (4, 64, 64, 3)).astype(np.float32) for k in ("ref", "p0", "p1")}
    d0 = np.asarray(model([x["ref"], x["p0"]]))
    np.testing.assert_allclose(np.asarray(from_npz([x["ref"], x["p0"]])), d0, rtol=1e-5)
    out = judgment(x, training=False)
    np.testing.assert_allclose(np.asarray(out["distances"][:, 0]), d0, rtol=1e-5)
    # The saved epoch is the best one by val_two_afc (first on ties).
    rows = _history(run_dir)
    assert _config(run_dir)["saved_epoch"] == int(np.argmax([r["val_two_afc"] for r in rows])) + 1


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(mirrored_run):
    proc = mirrored_run["proc"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert len(result["devices"]) == 2
    (row,) = result["histories"]["mirrored"]
    assert 0.0 <= row["two_afc"] <= 1.0 and 0.0 <= row["val_two_afc"] <= 1.0
    assert "two_afc" in proc.stdout and "val_two_afc" in proc.stdout
    # Two replicas of 10 triplets compute what one device does with 20 (dropout off): same
    # losses (not scaled by the replica count), same scores.
    (single,) = result["histories"]["default"]
    for key in ("loss", "two_afc", "val_loss", "val_two_afc"):
        assert row[key] == pytest.approx(single[key], rel=1e-5), key
    config = _config(mirrored_run["run_dir"])
    assert config["strategy"] == {"name": "mirrored", "replicas": 2}
    assert os.path.isdir(os.path.join(mirrored_run["run_dir"], "saved_model"))


SERVING_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    inputs = np.load(sys.argv[1])
    report = {"outputs": {}}
    arrays = {}
    for i, path in enumerate(sys.argv[3:]):
        serve = tf.saved_model.load(path).signatures["serving_default"]
        report["inputs"] = sorted(serve.structured_input_signature[1])
        report["outputs"][path] = sorted(serve.structured_outputs)
        for key in sorted({k[:-3] for k in inputs.files}):
            out = serve(image0=tf.constant(inputs[key + "_x0"]),
                        image1=tf.constant(inputs[key + "_x1"]))
            arrays[f"{i}_{key}"] = out["distance"].numpy()
    np.savez(sys.argv[2], **arrays)
    report["lpips_tf_imported"] = "lpips_tf" in sys.modules
    print("REPORT", json.dumps(report))
""")


@pytest.mark.slow
def test_saved_models_serve_without_lpips_tf(resumed_runs, mirrored_run, cosine_run, tmp_path):
    run_dirs = [resumed_runs["run_dir"], mirrored_run["run_dir"], cosine_run["run_dir"]]
    for run_dir in run_dirs:
        assert os.path.isdir(os.path.join(run_dir, "saved_model")), run_dir
    rng = np.random.default_rng(3)
    inputs = {}
    for n, (h, w) in ((1, (64, 64)), (3, (48, 72))):
        key = f"n{n}_{h}x{w}"
        inputs[key + "_x0"] = rng.uniform(-1, 1, (n, h, w, 3)).astype(np.float32)
        inputs[key + "_x1"] = rng.uniform(-1, 1, (n, h, w, 3)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", **inputs)
    saved = [os.path.join(d, "saved_model") for d in run_dirs]
    env = _env()
    env.pop("PYTHONPATH")
    # A bare TensorFlow process, run from outside the repository, that never imports lpips_tf.
    proc = subprocess.run([sys.executable, "-c", SERVING_CHILD, str(tmp_path / "inputs.npz"),
                           str(tmp_path / "outputs.npz"), *saved], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.split("REPORT", 1)[1])
    assert report["lpips_tf_imported"] is False
    assert report["inputs"] == ["image0", "image1"]
    assert all(v == ["distance"] for v in report["outputs"].values())
    outputs = np.load(tmp_path / "outputs.npz")
    for i, run_dir in enumerate(run_dirs):
        model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
        for key in sorted({k[:-3] for k in inputs}):
            expected = np.asarray(model([inputs[key + "_x0"], inputs[key + "_x1"]]))
            got = outputs[f"{i}_{key}"]
            assert got.shape == expected.shape == (inputs[key + "_x0"].shape[0],)
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5, err_msg=run_dir)


@pytest.mark.slow
def test_plots_and_config_describe_the_run(resumed_runs):
    run_dir = resumed_runs["run_dir"]
    config = _config(run_dir)
    flags = config["flags"]
    for key in ("data_dir", "train_sets", "val_sets", "variant", "trunk_weights", "epochs",
                "epochs_decay", "batch_size", "lr", "beta1", "dropout", "load_size", "out_dir",
                "strategy", "seed", "steps_per_epoch"):
        assert key in flags, key
    assert flags["train_sets"] == [TRAIN] and flags["dropout"] == 0.0
    assert config["data"]["synthetic"] is True and "NOT human judgments" in config["data"]["note"]
    assert config["steps_per_epoch"] == 3 and config["total_epochs"] == 3
    import matplotlib.image

    for name in ("accuracy.png", "loss.png"):
        image = matplotlib.image.imread(os.path.join(run_dir, name))
        assert image.shape[0] > 100 and image.shape[1] > 100


# ------------------------------------------------------------------------------------------------
# Errors.


def test_clear_errors_for_bad_variant_and_data_dir(dataset, tmp_path, capsys):
    main = run_train_main

    assert main("--data_dir", dataset, "--variant", "alex-linear", "--out_dir",
                str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "Unknown variant 'alex-linear'" in err and "alex-lin" in err and "vgg-rand-cos" in err

    missing = str(tmp_path / "no_such_dataset")
    assert main("--data_dir", missing, "--out_dir", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert missing in err and "2afc/{train,val}/<subset>/{ref,p0,p1,judge}" in err

    assert main("--out_dir", str(tmp_path)) == 2
    assert "--data_dir is required" in capsys.readouterr().err

    assert main("--data_dir", dataset, "--train_sets", TRAIN, "--val_sets", "val/cnn",
                "--out_dir", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "val/cnn" in err and "val/traditional" in err
    assert not os.listdir(tmp_path), "nothing is written before the data is found"

    with pytest.raises(ValueError, match="dropout=1.5"):
        training.train(training.TrainConfig(data_dir=dataset, dropout=1.5))


@pytest.mark.slow
def test_a_finished_run_folder_is_refused(dataset, finished_run, capsys):
    """In the slow group with the resume test, the other user of conftest's `finished_run`, so
    that the default run trains it nowhere."""
    assert run_train_main("--data_dir", dataset, "--train_sets", TRAIN, "--val_sets", VAL,
                          "--trunk_weights", finished_run["trunk"], "--out_dir",
                          finished_run["out_dir"]) == 2
    err = capsys.readouterr().err
    assert "holds a finished run" in err and "--overwrite" in err


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_strategy_with_two_local_workers(dataset, random_trunk_file, tmp_path,
                                                      request):
    """Two train.py processes under MultiWorkerMirroredStrategy (opt-in: -m slow)."""
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow: two local workers; run with -m slow")
    cluster = {"worker": [f"localhost:{p}" for p in _free_ports(2)]}
    args = _train_cli(dataset, random_trunk_file("alex"), tmp_path / "runs",
                      strategy="multi_worker", epochs_decay=0, steps_per_epoch=2)
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen([sys.executable, *args], cwd=str(ROOT),
                                      env=_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=400) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, out[-2000:] + err[-4000:]
    run_dir = tmp_path / "runs" / "alex-lin"
    config = _config(run_dir)
    assert config["status"] == "finished"
    assert config["strategy"] == {"name": "multi_worker", "replicas": 2}
    assert (run_dir / "saved_model").is_dir() and (run_dir / "lin_weights.npz").is_file()
    assert not os.listdir(tmp_path / "runs" / ".workers" / "alex-lin")
    (row,) = _history(run_dir)
    # An untrained judgment network predicts about 0.5: a loss near ln 2, not twice that.
    assert 0.5 < row["loss"] < 0.9 and 0.5 < row["val_loss"] < 0.9
