"""Command line: LPIPS between two images, two folders, or all pairs in one folder.

    python -m lpips_tf pair IMAGE0 IMAGE1 [--net alex] [--version 0.1] [--spatial_out map.png]
    python -m lpips_tf dirs DIR0 DIR1 --out results.txt [--spatial_dir maps/]
    python -m lpips_tf all-pairs DIR --out results.txt

Images are read as RGB (grayscale repeated, alpha dropped) and scaled to [-1, 1]. The two images of
a pair must have the same size. Distances print with 6 decimals.

`dirs` and `all-pairs` skip hidden files and folders, report each unreadable image or size mismatch
on stderr and go on, write each distance as it is computed, and exit with status 1 when anything
was skipped. Spatial maps are named after the full image name (`a.png_lpips.png`).
"""

import argparse
import itertools
import os
import re
import sys

from lpips_tf.outputs import check_writable_dir, open_results


def _add_model_flags(parser):
    parser.add_argument("--net", default="alex", choices=["alex", "vgg", "squeeze"],
                        help="trunk network (default alex, the official default)")
    parser.add_argument("--version", default="0.1", choices=["0.1", "0.0"])
    parser.add_argument("--baseline", action="store_true",
                        help="deep-feature (cosine) distance without the learned lin layers")
    parser.add_argument("--trunk_weights", default="torchvision",
                        help="'torchvision' (download once), 'keras' (vgg only), 'none', or a "
                             "path to a torchvision-format .pth state dict")
    parser.add_argument("--lin_weights", default="official",
                        help="'official' or a path to lin weights (.npz or official .pth)")


def _build_model(args, spatial):
    from lpips_tf.lpips_model import LPIPS

    trunk = None if args.trunk_weights.lower() == "none" else args.trunk_weights
    if trunk == "keras" and args.net == "vgg":
        from lpips_tf.weights import keras_vgg16_weights

        keras_vgg16_weights()  # offline: a clear error saying what to download, not a traceback
    return LPIPS(net=args.net, version=args.version, lpips=not args.baseline, spatial=spatial,
                 trunk_weights=trunk, lin_weights=args.lin_weights)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _keras_message(error):
    """The message of an error raised inside a Keras model call, without Keras' wrapping
    ("Exception encountered when calling LPIPS.call()", ANSI codes, the arguments received)."""
    lines = _ANSI.sub("", str(error)).strip().splitlines()
    if lines and lines[0].startswith("Exception encountered when calling"):
        lines = lines[1:]
    kept = []
    for line in lines:
        if line.startswith("Arguments received by"):
            break
        kept.append(line.strip())
    return " ".join(line for line in kept if line) or type(error).__name__


def _distance(model, image0, image1, name0, name1):
    """Distance (and map, for a spatial model) of one pair of (H, W, 3) arrays."""
    import numpy as np

    if image0.shape != image1.shape:
        raise ValueError(f"{name0} is {image0.shape[1]}x{image0.shape[0]} but {name1} is "
                         f"{image1.shape[1]}x{image1.shape[0]}: LPIPS compares images of the "
                         f"same size; resize one of them first.")
    try:
        out = np.asarray(model([image0[None], image1[None]]))
    except ValueError as error:  # e.g. an image under the trunk's minimum size
        raise ValueError(f"{name0}, {name1}: {_keras_message(error)}") from None
    if model.spatial:
        return float(out.mean()), out[0, :, :, 0]
    return float(out[0]), None


def _map_name(name):
    """Distance map file of image `name`: the full name is kept, so a.png and a.jpg differ."""
    return name + "_lpips.png"


def cmd_pair(args):
    from lpips_tf.images import load_image, save_distance_map

    if args.spatial_out:
        check_writable_dir(os.path.dirname(os.path.abspath(args.spatial_out)))
    model = _build_model(args, spatial=bool(args.spatial_out))
    d, distance_map = _distance(model, load_image(args.image0), load_image(args.image1),
                                args.image0, args.image1)
    print(f"{d:.6f}")
    if distance_map is not None:
        save_distance_map(args.spatial_out, distance_map)
        print(f"distance map saved to {args.spatial_out}", file=sys.stderr)
    return 0


def _progress(total):
    import keras

    return keras.utils.Progbar(total, unit_name="pair")


def _skip(message):
    """Reports a skipped image or pair on stderr, on its own line, and goes on."""
    print(f"\nskipped: {message}", file=sys.stderr)


def cmd_dirs(args):
    from lpips_tf.images import list_images, load_image, save_distance_map

    names0, names1 = list_images(args.dir0), set(list_images(args.dir1))
    common = [n for n in names0 if n in names1]
    missing = [n for n in names0 if n not in names1] + sorted(names1 - set(names0))
    if not common:
        raise ValueError(f"{args.dir0} and {args.dir1} share no image file names; `dirs` compares "
                         f"same-named images.")
    if missing:
        print(f"warning: {len(missing)} image(s) have no same-named counterpart and are skipped: "
              f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}", file=sys.stderr)
    # Outputs are checked before any computation.
    if args.spatial_dir:
        check_writable_dir(args.spatial_dir, "--spatial_dir folder")
    with open_results(args.out) as results:
        model = _build_model(args, spatial=bool(args.spatial_dir))
        done, skipped, bar = 0, 0, _progress(len(common))
        for i, name in enumerate(common):
            p0, p1 = os.path.join(args.dir0, name), os.path.join(args.dir1, name)
            try:
                d, distance_map = _distance(model, load_image(p0), load_image(p1), p0, p1)
            except (ValueError, OSError) as error:
                _skip(error)
                skipped += 1
            else:
                results.write(f"{name}: {d:.6f}\n")
                done += 1
                if distance_map is not None:
                    save_distance_map(os.path.join(args.spatial_dir, _map_name(name)),
                                      distance_map)
            bar.update(i + 1)
    print(f"{done} distances written to {args.out}" +
          (f"; {skipped} pair(s) skipped (see above)" if skipped else ""), file=sys.stderr)
    return 1 if skipped else 0


def cmd_all_pairs(args):
    from lpips_tf.images import list_images, load_image

    names = list_images(args.dir)
    if len(names) < 2:
        raise ValueError(f"{args.dir} holds {len(names)} image(s); all-pairs needs at least 2.")
    with open_results(args.out) as results:
        model = _build_model(args, spatial=False)
        images, skipped = {}, 0
        for n in names:
            try:
                images[n] = load_image(os.path.join(args.dir, n))
            except (ValueError, OSError) as error:
                _skip(error)
                skipped += 1
        pairs = list(itertools.combinations([n for n in names if n in images], 2))
        distances, bar = [], _progress(len(pairs))
        for i, (a, b) in enumerate(pairs):
            try:
                d, _ = _distance(model, images[a], images[b], a, b)
            except ValueError as error:
                _skip(error)
                skipped += 1
            else:
                distances.append(d)
                results.write(f"{a}, {b}: {d:.6f}\n")
            bar.update(i + 1)
        if distances:
            mean = sum(distances) / len(distances)
            results.write(f"mean over {len(distances)} pairs: {mean:.6f}\n")
    if distances:
        print(f"mean distance over {len(distances)} pairs: {mean:.6f} (all written to {args.out})")
    if skipped:
        print(f"{skipped} image(s) or pair(s) skipped (see above)", file=sys.stderr)
    return 1 if skipped or not distances else 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m lpips_tf", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    pair = sub.add_parser("pair", help="distance between two images")
    pair.add_argument("image0")
    pair.add_argument("image1")
    pair.add_argument("--spatial_out", help="also save the spatial distance map as this PNG")
    _add_model_flags(pair)
    pair.set_defaults(func=cmd_pair)

    dirs = sub.add_parser("dirs", help="distances between same-named images of two folders")
    dirs.add_argument("dir0")
    dirs.add_argument("dir1")
    dirs.add_argument("--out", "-o", default="lpips_results.txt", help="results file")
    dirs.add_argument("--spatial_dir", help="also save a distance map PNG per image here")
    _add_model_flags(dirs)
    dirs.set_defaults(func=cmd_dirs)

    all_pairs = sub.add_parser("all-pairs", help="distances between all pairs in one folder")
    all_pairs.add_argument("dir")
    all_pairs.add_argument("--out", "-o", default="lpips_pairs.txt", help="results file")
    _add_model_flags(all_pairs)
    all_pairs.set_defaults(func=cmd_all_pairs)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as error:
        # Input problems are the user's to fix: one clear line, no stack trace.
        print(f"error: {error}", file=sys.stderr)
        return 2
