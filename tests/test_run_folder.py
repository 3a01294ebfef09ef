"""The run folder (`lpips_tf.training.run_folder`): what a resume accepts."""

import dataclasses
import json

import pytest

from lpips_tf import training

TRAIN = "train/traditional"
VAL = "val/traditional"


def test_resume_refuses_changed_settings(dataset, tmp_path):
    # An interrupted run (status "running", a backup after epoch 1) trained with other settings.
    config = training.TrainConfig(data_dir=dataset, train_sets=TRAIN, val_sets=VAL,
                                  out_dir=str(tmp_path), lr=1e-3)
    run_dir = tmp_path / "alex-lin"
    (run_dir / "backup").mkdir(parents=True)
    (run_dir / "backup" / "latest.weights.h5").write_bytes(b"")
    (run_dir / "backup" / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    (run_dir / "config.json").write_text(json.dumps({"status": "running",
                                                     "flags": config.flags()}))
    changed = dataclasses.replace(config, lr=1e-4)
    with pytest.raises(training.ConfigError, match=r"settings differ.*'lr': \(0.001, 0.0001\)"):
        training.train(changed)
