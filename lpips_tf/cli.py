"""Command line: LPIPS between two images, two folders, or all pairs in one folder.

    python -m lpips_tf pair IMAGE0 IMAGE1 [--net alex] [--version 0.1] [--spatial_out map.png]
    python -m lpips_tf dirs DIR0 DIR1 --out results.txt [--spatial_dir maps/]
    python -m lpips_tf all-pairs DIR --out results.txt

Images are read as RGB (grayscale repeated, alpha dropped) and scaled to [-1, 1]. The two images of
a pair must have the same size. Distances print with 6 decimals.
"""

import argparse
import itertools
import os
import sys


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


def _distance(model, image0, image1, name0, name1):
    """Distance (and map, for a spatial model) of one pair of (H, W, 3) arrays."""
    import numpy as np

    if image0.shape != image1.shape:
        raise ValueError(f"{name0} is {image0.shape[1]}x{image0.shape[0]} but {name1} is "
                         f"{image1.shape[1]}x{image1.shape[0]}: LPIPS compares images of the "
                         f"same size; resize one of them first.")
    out = np.asarray(model([image0[None], image1[None]]))
    if model.spatial:
        return float(out.mean()), out[0, :, :, 0]
    return float(out[0]), None


def _write_results(path, lines):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def cmd_pair(args):
    from lpips_tf.images import load_image, save_distance_map

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
    model = _build_model(args, spatial=bool(args.spatial_dir))
    if args.spatial_dir:
        os.makedirs(args.spatial_dir, exist_ok=True)
    lines, bar = [], _progress(len(common))
    for i, name in enumerate(common):
        p0, p1 = os.path.join(args.dir0, name), os.path.join(args.dir1, name)
        d, distance_map = _distance(model, load_image(p0), load_image(p1), p0, p1)
        lines.append(f"{name}: {d:.6f}")
        if distance_map is not None:
            stem = os.path.splitext(name)[0]
            save_distance_map(os.path.join(args.spatial_dir, stem + "_lpips.png"), distance_map)
        bar.update(i + 1)
    _write_results(args.out, lines)
    print(f"{len(lines)} distances written to {args.out}", file=sys.stderr)
    return 0


def cmd_all_pairs(args):
    from lpips_tf.images import list_images, load_image

    names = list_images(args.dir)
    if len(names) < 2:
        raise ValueError(f"{args.dir} holds {len(names)} image(s); all-pairs needs at least 2.")
    model = _build_model(args, spatial=False)
    images = {n: load_image(os.path.join(args.dir, n)) for n in names}
    pairs = list(itertools.combinations(names, 2))
    lines, distances, bar = [], [], _progress(len(pairs))
    for i, (a, b) in enumerate(pairs):
        d, _ = _distance(model, images[a], images[b], a, b)
        distances.append(d)
        lines.append(f"{a}, {b}: {d:.6f}")
        bar.update(i + 1)
    mean = sum(distances) / len(distances)
    lines.append(f"mean over {len(pairs)} pairs: {mean:.6f}")
    _write_results(args.out, lines)
    print(f"mean distance over {len(pairs)} pairs: {mean:.6f} (all written to {args.out})")
    return 0


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
