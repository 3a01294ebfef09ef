"""Reading and writing images for the command line and the tests (no PIL: tf.io does it)."""

import os

import numpy as np
import tensorflow as tf

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_image(path):
    """Reads an image file as float32 (H, W, 3) in [-1, 1].

    Grayscale images are repeated to RGB and an alpha channel is dropped, as the official package
    does when it reads files. Raises ValueError for a file that is not a readable image.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Image not found: {path}")
    try:
        data = tf.io.read_file(path)
        image = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        message = getattr(error, "message", str(error)).splitlines()[0]
        raise ValueError(f"{path} is not a readable image (expected PNG, JPEG, BMP or GIF): "
                         f"{message}") from None
    return image.numpy().astype(np.float32) / 127.5 - 1.0


def save_distance_map(path, distance_map, cmap="viridis"):
    """Saves an (H, W) or (H, W, 1) distance map as a colour-mapped PNG with its own scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.squeeze(np.asarray(distance_map, np.float32))
    h, w = values.shape
    scale = max(3.0, 6.0 * max(h, w) / 512)
    fig, ax = plt.subplots(figsize=(scale * w / max(h, w) + 1.2, scale * h / max(h, w)))
    shown = ax.imshow(values, cmap=cmap)
    ax.set_axis_off()
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="LPIPS")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def list_images(folder):
    """Sorted image file names (not paths) in a folder."""
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"Not a folder: {folder}")
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
