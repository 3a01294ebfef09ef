"""Writes the small real photographs used by the parity tests to lpips_tf/data/photos/.

Run from the repository root (a few seconds), with the PyTorch-side environment described in
`tools/make_golden.py` (it only needs scikit-image, which bundles the source photographs, NumPy and
Pillow):

    /work/torchenv/bin/python tools/make_test_photos.py

The sources are scikit-image's bundled sample photographs (`skimage.data`): astronaut (NASA, public
domain), coffee (CC0), chelsea (CC0) and rocket (SpaceX, public domain); see
lpips_tf/data/photos/README.md. Each output is a crop to the target aspect ratio followed, where the
size changes, by an area-averaging (box filter) downscale, so no output is ever upsampled. Distorted
copies (Gaussian noise from a fixed seed, Gaussian blur) give pairs with small distances. The outputs
are committed; rerunning with another Pillow or libjpeg version may change pixels slightly, after
which `tools/make_golden.py` must be rerun too.
"""

import os

import numpy as np
from PIL import Image, ImageFilter
from skimage import data as skdata

OUT_DIR = os.path.join("tests", "data", "photos")

# name -> (source, (H, W), zoom, (anchor_x, anchor_y)). The crop is the largest box of the target
# aspect ratio, scaled by `zoom`, placed at the fractional anchor (0 = left/top, 1 = right/bottom).
CROPS = {
    "astronaut_97x131": ("astronaut", (97, 131), 0.8, (0.4, 0.2)),
    "coffee_97x131": ("coffee", (97, 131), 1.0, (0.5, 0.5)),
    "coffee_384x512": ("coffee", (384, 512), 1.0, (0.5, 0.5)),
    "rocket_384x512": ("rocket", (384, 512), 1.0, (0.5, 0.5)),
    "astronaut_64": ("astronaut", (64, 64), 1.0, (0.5, 0.5)),
    "coffee_64": ("coffee", (64, 64), 1.0, (0.5, 0.5)),
    "chelsea_256": ("chelsea", (256, 256), 1.0, (0.45, 0.5)),
    "rocket_256": ("rocket", (256, 256), 1.0, (0.5, 0.5)),
}

# name -> (base image, distortion, parameter).
DISTORTED = {
    "astronaut_97x131_noise": ("astronaut_97x131", "noise", 12.0),  # std in uint8 levels
    "chelsea_256_blur": ("chelsea_256", "blur", 1.5),  # Gaussian radius in pixels
}

NOISE_SEED = 1234


def _source(name):
    image = getattr(skdata, name)()
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"Expected an RGB uint8 photograph. Received: {name} {image.shape} {image.dtype}")
    return Image.fromarray(image, mode="RGB")


def crop_and_resize(image, size, zoom, anchor):
    """Crops `image` (PIL) to the aspect ratio of `size` = (H, W) and downscales by area averaging."""
    out_h, out_w = size
    src_w, src_h = image.size
    box_w = min(src_w, src_h * out_w / out_h) * zoom
    box_h = box_w * out_h / out_w
    if box_w < out_w or box_h < out_h:
        raise ValueError(f"Refusing to upsample: crop {box_w:.0f}x{box_h:.0f} is smaller than {size}")
    left = round((src_w - box_w) * anchor[0])
    top = round((src_h - box_h) * anchor[1])
    box = (left, top, left + round(box_w), top + round(box_h))
    cropped = image.crop(box)
    if cropped.size == (out_w, out_h):
        return cropped
    return cropped.resize((out_w, out_h), resample=Image.Resampling.BOX)


def distort(image, kind, param, rng):
    if kind == "noise":
        x = np.asarray(image, dtype=np.float64)
        x = x + rng.normal(0.0, param, size=x.shape)
        return Image.fromarray(np.clip(np.round(x), 0, 255).astype(np.uint8), mode="RGB")
    if kind == "blur":
        return image.filter(ImageFilter.GaussianBlur(radius=param))
    raise ValueError(f"Unknown distortion. Received: kind={kind!r}")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    made = {}
    for name, (source, size, zoom, anchor) in CROPS.items():
        made[name] = crop_and_resize(_source(source), size, zoom, anchor)
    rng = np.random.default_rng(NOISE_SEED)
    for name, (base, kind, param) in DISTORTED.items():
        made[name] = distort(made[base], kind, param, rng)
    total = 0
    for name, image in made.items():
        path = os.path.join(OUT_DIR, name + ".png")
        image.save(path, optimize=True)
        total += os.path.getsize(path)
        print(f"{path}: {image.size[1]}x{image.size[0]}, {os.path.getsize(path)} bytes")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
