"""The run folder (`lpips_tf.training.run_folder`): what a resume accepts."""

import dataclasses
import json

import pytest

from lpips_tf import training

TRAIN = "train/traditional"
VAL = "val/traditional"


def _h5(path):
    """A whole (empty) HDF5 file, which the backup check accepts without a recorded checksum."""
    import h5py

    h5py.File(path, "w").close()


def test_resume_refuses_changed_settings(dataset, tmp_path):
    # An interrupted run (status "running", a backup after epoch 1) trained with other settings.
    config = training.TrainConfig(data_dir=dataset, train_sets=TRAIN, val_sets=VAL,
                                  out_dir=str(tmp_path), lr=1e-3, trunk_weights=None)
    run_dir = tmp_path / "alex-lin"
    (run_dir / "backup").mkdir(parents=True)
    _h5(run_dir / "backup" / "latest.weights.h5")
    (run_dir / "backup" / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    (run_dir / "config.json").write_text(json.dumps({"status": "running",
                                                     "flags": config.flags()}))
    changed = dataclasses.replace(config, lr=1e-4)
    with pytest.raises(training.ConfigError, match=r"settings differ.*'lr': \(0.001, 0.0001\)"):
        training.train(changed)


def test_a_history_counted_from_0_resumes_counted_from_1(dataset, tmp_path):
    """A run folder written when history.csv counted epochs from 0 (Keras' CSVLogger): read as
    1-based, trimmed to the backed-up epochs on resume, and continued 1-based."""
    from lpips_tf.training.callbacks import HistoryLogger
    from lpips_tf.training.run_folder import RunFolder, read_history

    config = training.TrainConfig(data_dir=dataset, train_sets=TRAIN, val_sets=VAL,
                                  out_dir=str(tmp_path), trunk_weights=None)
    run = RunFolder(str(tmp_path / "alex-lin"))
    (tmp_path / "alex-lin" / "backup").mkdir(parents=True)
    _h5(tmp_path / "alex-lin" / "backup" / "latest.weights.h5")
    # Keras backed up after 2 epochs; a third was logged before the process died.
    (tmp_path / "alex-lin" / "backup" / "training_metadata.json").write_text(
        '{"epoch": 2, "batch": 0}')
    (tmp_path / "alex-lin" / "config.json").write_text(json.dumps({"status": "running",
                                                                   "flags": config.flags()}))
    with open(run.history, "w") as f:
        f.write("epoch,loss,val_two_afc\n0,0.70,0.61\n1,0.65,0.64\n2,0.60,0.66\n")
    assert [r["epoch"] for r in read_history(run.history)] == [1, 2, 3]
    assert read_history(run.history)[1] == {"epoch": 2, "loss": 0.65, "val_two_afc": 0.64}

    done, previous = run.prepare(config, log=lambda line: None)
    assert done == 2 and previous["status"] == "running"
    assert run.read_history() == [{"epoch": 1, "loss": 0.70, "val_two_afc": 0.61},
                                  {"epoch": 2, "loss": 0.65, "val_two_afc": 0.64}]
    # The resumed run appends its third epoch (Keras' index 2) as epoch 3.
    logger = HistoryLogger(run.history, append=True)
    logger.on_train_begin()
    logger.on_epoch_end(2, {"loss": 0.55, "val_two_afc": 0.67})
    logger.on_train_end()
    lines = open(run.history).read().splitlines()
    assert lines[0] == "epoch,loss,val_two_afc" and lines[1].startswith("1,")
    assert lines[-1] == "3,0.55,0.67", lines
    assert [r["epoch"] for r in run.read_history()] == [1, 2, 3]
