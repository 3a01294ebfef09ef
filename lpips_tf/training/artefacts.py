"""The files a finished run leaves for its users: SavedModel, `.keras` models, lin weights, plots.

(config.json and history.csv belong to `lpips_tf.training.run_folder` / `run_record`.)

Each is written under a temporary name and renamed into place (`run_files.atomic_path`; the
SavedModel as a whole folder), so that a full disk or a kill leaves no partial file inside a final
artefact, and a failed write is one line naming the file.
"""

import textwrap

import numpy as np

from lpips_tf.data.synthetic import BANNER
from lpips_tf.uses.export import export_saved_model
from lpips_tf.training.plots import plot_history
from lpips_tf.training.run_files import atomic_path, write_error


def write_lin_weights(distance_model, path):
    """Writes the lin layers as `lin0..linK` (C,) float32 arrays, what `LPIPS(lin_weights=path)`
    reads."""
    arrays = {f"lin{k}": np.asarray(v, np.float32)
              for k, v in enumerate(distance_model.get_lin_weights())}
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return path


def save_artefacts(run, distance, judgment_model, variant, config, rows, saved_epoch, synthetic):
    """Writes the models of epoch `saved_epoch` (1-based) and the plots into the `RunFolder`."""
    import tensorflow as tf

    with atomic_path(run.saved_model, catch=(tf.errors.OpError,)) as tmp:
        export_saved_model(distance, tmp)
    with atomic_path(run.model) as tmp:
        distance.save(tmp)
    if config.save_judgment_model:
        with atomic_path(run.judgment_model) as tmp:
            judgment_model.save(tmp)
    if variant.lpips:
        write_lin_weights(distance, run.lin_weights)
    title = variant.name + ("\n" + textwrap.fill(BANNER, 72) if synthetic else "")
    try:
        plot_history(rows, run.root, title, marked_epoch=saved_epoch)
    except OSError as error:
        raise write_error(getattr(error, "filename", None) or run.accuracy_plot, error) from error
