"""The files a finished run leaves for its users: SavedModel, `.keras` models, lin weights, plots.

(config.json and history.csv belong to `lpips_tf.training.run_folder` / `run_record`.)
"""

import textwrap

import numpy as np

from lpips_tf.data.synthetic import BANNER
from lpips_tf.uses.export import export_saved_model
from lpips_tf.training.plots import plot_history


def write_lin_weights(distance_model, path):
    """Writes the lin layers as `lin0..linK` (C,) float32 arrays, what `LPIPS(lin_weights=path)`
    reads."""
    arrays = {f"lin{k}": np.asarray(v, np.float32)
              for k, v in enumerate(distance_model.get_lin_weights())}
    np.savez(path, **arrays)
    return path


def save_artefacts(run, distance, judgment_model, variant, config, rows, saved_epoch, synthetic):
    """Writes the models of epoch `saved_epoch` (1-based) and the plots into the `RunFolder`."""
    export_saved_model(distance, run.saved_model)
    distance.save(run.model)
    if config.save_judgment_model:
        judgment_model.save(run.judgment_model)
    if variant.lpips:
        write_lin_weights(distance, run.lin_weights)
    title = variant.name + ("\n" + textwrap.fill(BANNER, 72) if synthetic else "")
    plot_history(rows, run.root, title, marked_epoch=saved_epoch)
