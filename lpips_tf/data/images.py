"""Reading and writing images for the command line and the tests, with Pillow.

No TensorFlow here: the command line and the metric read images the same way under any Keras
backend. Pillow reads the header first, so an image's size is checked before its pixels are
decoded (a 48 KB PNG can declare 20000 x 20000 pixels: 1.2 GB as RGB, far more as floats), and it
applies a JPEG's EXIF orientation, as the official package's OpenCV reader does.
"""

import os
import re

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

# Largest image load_image decodes unless told otherwise: 64 megapixels is a 8000 x 8000 photo,
# 768 MB as float32 RGB (and LPIPS' activations are many times that).
MAX_PIXELS = 64_000_000

_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "BMP": "BMP", "DIB": "BMP", "GIF": "GIF"}


class _Refused(ValueError):
    """load_image's own refusals, which already name the file."""


def load_image(path, max_pixels=None):
    """Reads an image file as float32 (H, W, 3) in [-1, 1].

    Grayscale images are repeated to RGB and an alpha channel is dropped, as the official package
    does when it reads files; a JPEG's EXIF orientation is applied; 16-bit images are reduced to
    8 bits; a GIF gives its first frame.

    Args:
      path: a PNG, JPEG, BMP or GIF file.
      max_pixels: refuse images with more pixels than this (checked from the header, before
        decoding); defaults to `MAX_PIXELS`.

    Raises:
      FileNotFoundError: no such file.
      ValueError: a file that is not a readable image, or one too large, naming the file.
    """
    from PIL import Image, ImageOps

    path = os.fspath(path)
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Image not found: {path}")
    expected = "expected a PNG, JPEG, BMP or GIF image"

    def too_large(size, pixels):
        return _Refused(
            f"{path} is {size} pixels ({pixels / 1e6:.0f} megapixels); expected at most "
            f"{limit / 1e6:g} megapixels (lpips_tf.data.images.MAX_PIXELS, or max_pixels=): resize it "
            f"first.")

    try:
        with Image.open(path) as image:  # reads the header only
            if image.format not in _FORMATS:
                raise _Refused(f"{path} is a {image.format} image; {expected}.")
            width, height = image.size
            if width * height > limit:
                raise too_large(f"{width}x{height}", width * height)
            image = ImageOps.exif_transpose(image)
            if image.mode.startswith("I;16") or image.mode == "I":
                # 16-bit grayscale: keep the high byte, as OpenCV and tf.io do for 8-bit output.
                gray = (np.asarray(image, np.uint32) >> 8).astype(np.uint8)
                pixels = np.repeat(gray[..., None], 3, axis=-1)
            else:
                pixels = np.asarray(image.convert("RGB"), np.uint8)
    except _Refused:
        raise
    except Image.DecompressionBombError as error:
        # Pillow's own, coarser limit (twice Image.MAX_IMAGE_PIXELS) fired in Image.open already.
        pixels = int(re.search(r"\((\d+) pixels\)", str(error)).group(1))
        raise too_large("an image of {pixels}".format(pixels=pixels), pixels) from None
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow's UnidentifiedImageError is an OSError; truncated data raises OSError too, and a
        # text or ICC profile chunk that inflates past PngImagePlugin.MAX_TEXT_CHUNK a ValueError.
        reason = str(error).replace(repr(path), "").replace(path, "").strip(" :") or \
            type(error).__name__
        raise ValueError(f"{path} is not a readable image ({reason}); {expected}.") from None
    return pixels.astype(np.float32) / 127.5 - 1.0


def distance_map_png(distance_map, cmap="viridis"):
    """An (H, W) or (H, W, 1) distance map as the PNG bytes of a colour-mapped picture with its
    own scale (the command line writes them with `lpips_tf.cli.outputs.write_file_atomically`)."""
    import io

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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def list_images(folder):
    """Sorted image file names (not paths) in a folder.

    Only regular files (or links to them) with an image extension: hidden files, including the
    `._*` AppleDouble files macOS leaves on other file systems, and folders named like images are
    skipped.
    """
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"Not a folder: {folder}")
    return sorted(
        f for f in os.listdir(folder)
        if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
        and os.path.isfile(os.path.join(folder, f))
    )
