"""The learning-rate schedule of the official trainer: constant, then linear decay to 0."""

import keras
from keras import ops

@keras.saving.register_keras_serializable(package="lpips_tf")
class LinearDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Constant learning rate for `epochs` epochs, then linear decay to 0 over `epochs_decay`.

    With `staircase=True` (the default) this is the official trainer's schedule: the rate is
    constant within an epoch, and after each epoch past the first `epochs` it drops by
    `initial_learning_rate / epochs_decay`. For 0-based epoch k:

        lr(k) = initial * (1 - clip(k - epochs, 0, epochs_decay) / epochs_decay)

    so with 5 + 5 epochs, epochs 0..5 train at the full rate and epochs 6..9 at 0.8, 0.6, 0.4,
    0.2 of it; the rate reaches 0 only after the last epoch. With `staircase=False` the same line
    is followed per step (k = step / steps_per_epoch), reaching 0 at the last step.

    Args:
      initial_learning_rate: the constant rate (1e-4 in the paper).
      steps_per_epoch: optimizer steps per epoch.
      epochs: epochs at the constant rate.
      epochs_decay: epochs of linear decay (0: constant throughout).
      staircase: decay once per epoch (official) instead of every step.
    """

    def __init__(self, initial_learning_rate, steps_per_epoch, epochs, epochs_decay,
                 staircase=True, name="linear_decay"):
        super().__init__()
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1. Received: {steps_per_epoch}")
        if epochs < 0 or epochs_decay < 0:
            raise ValueError(f"epochs and epochs_decay must be >= 0. Received: epochs={epochs}, "
                             f"epochs_decay={epochs_decay}")
        self.initial_learning_rate = initial_learning_rate
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.epochs_decay = int(epochs_decay)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        lr = ops.convert_to_tensor(self.initial_learning_rate, "float32")
        if self.epochs_decay == 0:
            return lr
        epoch = ops.cast(step, "float32") / float(self.steps_per_epoch)
        if self.staircase:
            epoch = ops.floor(epoch)
        decayed = ops.clip(epoch - float(self.epochs), 0.0, float(self.epochs_decay))
        return lr * (1.0 - decayed / float(self.epochs_decay))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs,
                "epochs_decay": self.epochs_decay, "staircase": self.staircase, "name": self.name}

