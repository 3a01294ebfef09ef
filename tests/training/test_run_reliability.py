"""Run folders that survive a kill at any moment, damaged files and a full disk.

Each test builds the bad state for real: a child process killed at the exact moment a backup is
being written (an injected `save_weights` that creates the file, as h5py does, then dies), files
cut short or garbled by hand, a file-size limit (`resource.setrlimit(RLIMIT_FSIZE)`) set in a
child just before the SavedModel is written. Training runs are tiny: 4 synthetic triplets, one
step per epoch, a random-weight AlexNet trunk. The in-process reruns that test recovery, not the
final files, skip the SavedModel export (conftest.no_saved_model_export); the full-disk test
keeps it. The tests that kill or limit a child process are marked slow (`-m slow`).
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, run_train_main
from test_hostile import _damage_middle, _toy_2afc, _train_args

PY = sys.executable
KILL_CODE = 75

# train.py in a child, with hooks set by environment variables:
#   KILL_AT_BACKUP=n   the n-th weights write into backup/ creates its file and the process dies
#                      there, as a SIGKILL in the middle of h5py's write would leave it;
#   FSIZE_AT_EXPORT=b  the file-size limit drops to b bytes when the SavedModel is exported.
_CHILD = textwrap.dedent("""
    import os, resource, sys
    sys.path.insert(0, sys.argv[1])
    import keras
    calls = []
    original = keras.Model.save_weights

    def save_weights(self, filepath, *args, **kwargs):
        if os.sep + "backup" + os.sep in str(filepath) and os.environ.get("KILL_AT_BACKUP"):
            calls.append(filepath)
            if len(calls) == int(os.environ["KILL_AT_BACKUP"]):
                with open(filepath, "wb") as f:
                    f.write(b"\\x89HDF\\r\\n\\x1a\\n")
                os._exit(75)
        return original(self, filepath, *args, **kwargs)

    keras.Model.save_weights = save_weights
    if os.environ.get("FSIZE_AT_EXPORT"):
        from lpips_tf.training import artefacts
        export = artefacts.export_saved_model

        def limited_export(*args, **kwargs):
            limit = int(os.environ["FSIZE_AT_EXPORT"])
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            return export(*args, **kwargs)

        artefacts.export_saved_model = limited_export
    import runpy
    sys.argv = [os.path.join(sys.argv[1], "train.py")] + sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def _child_train(args, **env):
    out = subprocess.run([PY, "-c", _CHILD, str(ROOT), *map(str, args)], cwd=str(ROOT),
                         capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PYTHONPATH=str(ROOT), **env))
    return out.returncode, out.stdout + out.stderr


def _epochs(*extra):
    return ("--epochs", "2", "--epochs_decay", "1", *extra)


@pytest.fixture(scope="module")
def toy(tmp_path_factory, random_trunk_file):
    return _toy_2afc(tmp_path_factory.mktemp("toy_data")), random_trunk_file("alex")


def _history_epochs(run_dir):
    from lpips_tf.training.run_folder import read_history

    return [r["epoch"] for r in read_history(os.path.join(run_dir, "history.csv"))]


@pytest.mark.slow
def test_kill_while_the_backup_weights_are_written_resumes(toy, tmp_path, capsys,
                                                           no_saved_model_export):
    data, trunk = toy
    out = tmp_path / "runs"
    args = [*_train_args(data, out, trunk), *_epochs()]
    rc, output = _child_train(args, KILL_AT_BACKUP="2")  # during epoch 2's backup
    assert rc == KILL_CODE, output[-3000:]
    run_dir = out / "alex-lin"
    rc = run_train_main(*args)
    captured = capsys.readouterr()
    assert rc == 0, captured.err[-3000:]
    assert f"Resuming {run_dir} after epoch 1" in captured.out
    assert _history_epochs(run_dir) == [1, 2, 3]
    assert json.loads((run_dir / "config.json").read_text())["status"] == "finished"
    assert not any(".partial-" in name for _, _, names in os.walk(run_dir) for name in names)


@pytest.fixture(scope="module")
def killed_after_epoch_2(toy, tmp_path_factory):
    """An interrupted run folder: 3 epochs planned, killed after epoch 2 was backed up (so its
    backup holds epoch 2 and, as the previous pair, epoch 1)."""
    from lpips_tf.training import callbacks

    data, trunk = toy
    out = tmp_path_factory.mktemp("killed") / "runs"
    rc, output = _child_train([*_train_args(data, out, trunk), *_epochs()],
                              **{callbacks.KILL_ENV: "2"})
    assert rc == callbacks.KILL_EXIT_CODE, output[-3000:]
    return str(out / "alex-lin")


def _truncate(path, keep=0.5):
    data = open(path, "rb").read()
    open(path, "wb").write(data[:int(len(data) * keep)])


def _garbage_row(path):
    with open(path, "a") as f:
        f.write("2,abc,,\n")


# (file inside the run folder, how it is damaged, the epoch the rerun resumes after, the line it
# says, or None when the rerun refuses with one line naming the file).
DAMAGE = {
    "config": ("config.json", _truncate, None, None),
    "metadata": ("backup/training_metadata.json", _truncate, 1, "resuming from the previous "
                                                               "backup (epoch 1)"),
    "weights": ("backup/latest.weights.h5", _truncate, 1, "resuming from the previous backup "
                                                          "(epoch 1)"),
    "history_short": ("history.csv", lambda p: _truncate(p, 0.8), 2, None),
    "history_garbage": ("history.csv", _garbage_row, 2, "rewritten from the backup of epoch 2"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_run_file_is_recovered_or_named_before_training(case, killed_after_epoch_2, toy,
                                                                tmp_path, capsys,
                                                                no_saved_model_export):
    data, trunk = toy
    name, damage, resumed_after, said = DAMAGE[case]
    out = tmp_path / "runs"
    run_dir = out / "alex-lin"
    shutil.copytree(killed_after_epoch_2, run_dir)
    damage(str(run_dir / name))
    rc = run_train_main(*_train_args(data, out, trunk), *_epochs())
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if resumed_after is None:
        assert rc == 2 and len(captured.err.strip().splitlines()) == 1, captured.err
        assert f"{run_dir / name} is damaged" in captured.err and "--overwrite" in captured.err
        assert "Epoch" not in captured.out  # nothing trained
        return
    assert rc == 0, captured.err[-3000:]
    assert f"Resuming {run_dir} after epoch {resumed_after}" in captured.out
    if said:
        assert said in captured.out and name.split("/")[-1] in captured.out
    assert _history_epochs(run_dir) == [1, 2, 3]
    with open(run_dir / "history.csv") as f:
        header, *lines = f.read().splitlines()
    columns = header.split(",")
    assert "val_two_afc" in columns and all(len(line.split(",")) == len(columns) and
                                            "" not in line.split(",") for line in lines), lines
    assert json.loads((run_dir / "config.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_damaged_best_checkpoint_is_restored_or_named(killed_after_epoch_2, toy, tmp_path,
                                                      capsys, no_saved_model_export):
    import numpy as np

    from lpips_tf.training.run_folder import read_history

    data, trunk = toy
    out = tmp_path / "runs"
    run_dir = out / "alex-lin"
    shutil.copytree(killed_after_epoch_2, run_dir)
    best = run_dir / "checkpoints" / "best.weights.h5"
    _truncate(str(best))
    rows = read_history(str(run_dir / "history.csv"))[:2]
    best_epoch = int(np.argmax([r["val_two_afc"] for r in rows])) + 1
    rc = run_train_main(*_train_args(data, out, trunk), *_epochs())
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if best_epoch == 2:  # the backup holds it
        assert rc == 0 and "restored from there" in captured.out, captured.err[-2000:]
    else:
        assert rc == 2 and f"{best} is damaged" in captured.err, captured.err
        assert len(captured.err.strip().splitlines()) == 1 and "Epoch" not in captured.out


@pytest.mark.slow
def test_file_size_limit_gives_one_line_and_a_true_record(toy, tmp_path, capsys):
    data, trunk = toy
    out = tmp_path / "runs"
    run_dir = out / "alex-lin"
    args = [*_train_args(data, out, trunk), *_epochs()]
    rc, output = _child_train(args, FSIZE_AT_EXPORT=str(256 << 10))
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert rc == 2 and "Traceback" not in output, output[-3000:]
    assert len(errors) == 1 and f"could not write {run_dir / 'saved_model'}" in errors[0], errors
    assert "File too large" in errors[0]
    record = json.loads((run_dir / "config.json").read_text())
    assert record["status"] == "failed" and "File too large" in record["error"]
    leftovers = [os.path.join(r, n) for r, dirs, names in os.walk(out) for n in names + dirs
                 if ".partial-" in n or n.endswith(".tmp")]
    assert leftovers == [] and not (run_dir / "saved_model").exists()
    # Without the limit the same command writes the final files; nothing partial inside them.
    rc = run_train_main(*args)
    captured = capsys.readouterr()
    assert rc == 0 and "All epochs were already trained" in captured.out, captured.err[-2000:]
    names = [n for _, dirs, files in os.walk(run_dir / "saved_model") for n in dirs + files]
    assert "saved_model.pb" in names and not [n for n in names if "temp" in n], names


_MARK_FAILED = textwrap.dedent("""
    import json, os, resource, sys
    os.environ["KERAS_BACKEND"] = "numpy"
    sys.path.insert(0, sys.argv[1])
    from lpips_tf.training.run_lock import RunFolderGuard
    run_dir = sys.argv[2]
    config = os.path.join(run_dir, "config.json")
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, resource.RLIM_INFINITY))
    try:
        with RunFolderGuard() as guard:
            guard.lock(run_dir, config)
            raise OSError(28, "No space left on device")
    except OSError:
        pass
""")


def test_config_that_cannot_be_marked_failed_leaves_a_note_and_no_temporary_file(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"status": "running", "pad": "x" * 1000}))
    out = subprocess.run([PY, "-c", _MARK_FAILED, str(ROOT), str(run_dir)], capture_output=True,
                         text=True, timeout=120, cwd=str(ROOT),
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr[-2000:]
    assert f'Note: {run_dir / "config.json"} still says "running"' in out.stdout, out.stdout
    assert "File too large" in out.stdout
    assert sorted(os.listdir(run_dir)) == ["config.json"]
    assert json.loads((run_dir / "config.json").read_text())["status"] == "running"


def test_overwrite_keeps_the_old_run_until_the_new_one_passed_its_checks(toy, tmp_path, capsys):
    data, trunk = toy
    data = shutil.copytree(data, tmp_path / "data")
    _damage_middle(os.path.join(data, "2afc", "train", "toy", "p0", "000001.png"))
    out = tmp_path / "runs"
    old = out / "alex-lin"
    old.mkdir(parents=True)
    (old / "config.json").write_text(json.dumps({"status": "finished", "flags": {}}))
    (old / "model.keras").write_text("the finished run's model")
    rc = run_train_main(*_train_args(str(data), out, trunk, "--overwrite", "--cached_stats"))
    captured = capsys.readouterr()
    assert rc == 2 and "Corrupt image" in captured.err and "000001.png" in captured.err
    assert (old / "model.keras").read_text() == "the finished run's model"
    assert json.loads((old / "config.json").read_text())["status"] == "finished"
    assert "removing the previous run" not in captured.out


def _tiny_distance_model():
    import keras

    x0, x1 = keras.Input((None, None, 3)), keras.Input((None, None, 3))
    diff = keras.layers.Subtract()([x0, x1])
    d = keras.layers.GlobalAveragePooling2D()(keras.layers.Multiply()([diff, diff]))
    return keras.Model([x0, x1], keras.layers.Dense(1, use_bias=False)(d))


def test_evaluate_says_damaged_for_a_cut_model_and_warns_about_unfinished_runs(tmp_path,
                                                                               capsys):
    from lpips_tf.evaluation import evaluate as evaluation
    from lpips_tf.uses.export import export_saved_model

    model = _tiny_distance_model()
    cut = tmp_path / "runs" / "cut-lin"
    cut.mkdir(parents=True)
    (cut / "config.json").write_text(json.dumps({"status": "finished"}))
    model.save(cut / "model.keras")
    _truncate(str(cut / "model.keras"))
    with pytest.raises(ValueError, match=rf"{cut / 'model.keras'} is damaged \(not a whole "
                                         rf".keras zip archive"):
        evaluation.resolve_variants([str(cut)], baselines=False)

    running = tmp_path / "runs" / "running-lin"
    export_saved_model(model, str(running / "saved_model"))
    (running / "config.json").write_text(json.dumps({"status": "running"}))
    capsys.readouterr()
    assert list(evaluation.resolve_variants([str(running)], baselines=False)) == ["running-lin"]
    err = capsys.readouterr().err
    assert err == (f"warning: {running} is not marked finished (status: running); its model may "
                   f"be from an interrupted or failed run; rerun train.py to finish it.\n")
    (running / "config.json").write_text(json.dumps({"status": "finished"}))
    evaluation.resolve_variants([str(running)], baselines=False)
    assert capsys.readouterr().err == ""
