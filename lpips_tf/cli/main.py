"""Command line: LPIPS between two images, two folders, or all pairs in one folder.

    python -m lpips_tf pair IMAGE0 IMAGE1 [--net alex] [--cos] [--spatial_out map.png]
    python -m lpips_tf dirs DIR0 DIR1 --out results.txt [--spatial_dir maps/] [--batch_size 32]
    python -m lpips_tf all-pairs DIR --out results.txt [--batch_size 32] [--n_boot 1000]

Images are read as RGB (grayscale repeated, alpha dropped) and scaled to [-1, 1]. The two images of
a pair must have the same size. Distances print with 6 decimals, the same whether maps are written
or not: the distance is the model's own (each tap's map averaged at its resolution), the map the
taps' maps upsampled and summed. `--format text|tsv|csv|jsonl` chooses the results file's rows
(`lpips_tf.cli.results`; text quotes names that could be misread).

Every output is checked against the inputs before any work (`lpips_tf.cli.outputs.check_not_input`):
`-o` is no input image (nor an image-named file in an input folder), `--spatial_out` neither input
image, `--spatial_dir` outside the input folders. Maps are written whole or not at all, each before
its row, so a full disk stops the command with a line naming the file and lists no pair without
its map.

`dirs` and `all-pairs` skip hidden files and folders, report each unreadable image or size mismatch
on stderr and go on, and exit with status 1 when anything was skipped (the exit codes of every
command: `lpips_tf.cli.scripts`). Spatial maps are named after the full image name
(`a.png_lpips.png`). A progress bar with pairs/s goes to stderr. Outputs are checked before the
model is built, and created only once it is: a bad input or an offline weight download leaves no
empty results file behind.

`dirs` reads the matched pairs lazily, `--batch_size` same-size pairs per model call
(`lpips_tf.cli.batching.pair_batches`: at most 2 x batch_size images in memory), and writes each
distance as it is computed, in name order. `all-pairs` reads each image once to find its size,
then runs `lpips_tf.pairwise` per size group (one trunk pass per image, not one per pair; pixels
read again batch by batch); pairs across sizes are reported as size mismatches. It writes the
pairs in name order and a last line `mean over N pairs (std S, bootstrap 95% interval of the mean
[L, H]): MEAN`, the interval from `lpips_tf.uses.pairwise.diversity` (images resampled); stdout
gets `mean distance over N pairs: MEAN (std S, bootstrap 95% interval of the mean [L, H]); all
written to FILE`.
"""

import argparse
import os
import sys

from lpips_tf.cli import scripts
from lpips_tf.cli.outputs import (OutputError, check_not_input, check_results_file,
                                  check_writable_dir, open_results, write_file_atomically)
from lpips_tf.cli.results import FORMATS, ResultsWriter


class _DeprecatedCos(argparse.Action):
    """--baseline, the old name of --cos: sets it, with a one-line note."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"note: {option_string} is deprecated; use --cos.", file=sys.stderr)
        namespace.cos = True


def _add_model_flags(parser):
    parser.add_argument("--net", default="alex",
                        help="preset (LPIPS.presets): alex (default, the official default), vgg, "
                             "squeeze, alex-cos, vgg-v0.0, stlpips-alex, stlpips-vgg (ST-LPIPS), "
                             "..., optionally with :taps=K")
    parser.add_argument("--version", default=None, choices=["0.1", "0.0"],
                        help="LPIPS version (default: the preset's, 0.1 for alex, vgg, squeeze)")
    parser.add_argument("--cos", action="store_true", default=False,
                        help="the cos distance: cosine distance between unit-normalised "
                             "features, without the learned lin layers")
    parser.add_argument("--baseline", action=_DeprecatedCos, nargs=0, help=argparse.SUPPRESS)
    parser.add_argument("--trunk_weights", default="torchvision",
                        help="'torchvision' (download once; for stlpips-* the ST-LPIPS authors' "
                             "checkpoint), 'keras' (vgg only), 'random', or a path to a "
                             "torchvision-format .pth state dict (stlpips-*: the authors' .pth)")
    parser.add_argument("--lin_weights", default=None,
                        help="a path to lin weights (.npz or official .pth) instead of the "
                             "preset's (the official ones)")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _add_batch_flag(parser, what):
    parser.add_argument("--batch_size", type=_positive_int, default=32,
                        help=f"{what}; memory grows with it")


def _add_format_flag(parser):
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="results file format: text (names that could be misread quoted "
                             "as JSON strings), tsv or csv (a header row, csv-module quoting), "
                             "jsonl (one JSON object per pair); see lpips_tf.cli.results")


def _build_model(args):
    from lpips_tf.core import presets
    from lpips_tf.core.model import LPIPS
    from lpips_tf.core.weights import parse_trunk_weights

    name, _, settings = args.net.partition(":")
    name = presets.variant_of(name, "cos" if args.cos else None, args.version)
    overrides = {"lin_weights": args.lin_weights} if args.lin_weights else {}
    return LPIPS.from_preset(":".join(filter(None, (name, settings))), spatial=False,
                             trunk_weights=parse_trunk_weights(args.trunk_weights), **overrides)


def _distances(model, images0, images1, names, maps=False):
    """Distances (and with `maps` the official spatial maps, (k, H, W)) of one same-size batch,
    (k, H, W, 3) each: the model's plain call, or `LPIPS.distance_and_map`, which gives the same
    distances and the maps from the same trunk pass; both tiled where the images are large."""
    import numpy as np

    try:
        if maps:
            return model.distance_and_map([images0, images1])
        return np.asarray(model([images0, images1])).astype(np.float64), None
    except ValueError as error:  # e.g. an image under the trunk's minimum size
        raise ValueError(f"{', '.join(names)}: {scripts.one_line(error)}") from None


def _distance(model, image0, image1, name0, name1, maps=False):
    """Distance (and with `maps` the map) of one pair of (H, W, 3) arrays."""
    from lpips_tf.cli.batching import size_mismatch_message

    if image0.shape != image1.shape:
        raise ValueError(size_mismatch_message(name0, image0.shape, name1, image1.shape))
    d, distance_maps = _distances(model, image0[None], image1[None], (name0, name1), maps)
    return float(d[0]), None if distance_maps is None else distance_maps[0]


def _map_name(name):
    """Distance map file of image `name`: the full name is kept, so a.png and a.jpg differ."""
    return name + "_lpips.png"


def cmd_pair(args):
    from lpips_tf.data.images import distance_map_png, load_image

    map_dir = os.path.dirname(os.path.abspath(args.spatial_out)) if args.spatial_out else None
    if map_dir:
        check_not_input(args.spatial_out, "--spatial_out map", files=(args.image0, args.image1))
        check_writable_dir(map_dir, create=False)
    model = _build_model(args)
    d, distance_map = _distance(model, load_image(args.image0), load_image(args.image1),
                                args.image0, args.image1, maps=bool(args.spatial_out))
    print(f"{d:.6f}")
    if distance_map is not None:
        os.makedirs(map_dir, exist_ok=True)
        write_file_atomically(args.spatial_out, distance_map_png(distance_map))
        print(f"distance map saved to {args.spatial_out}", file=sys.stderr)
    return scripts.EXIT_DONE


def _skip(bar, message):
    """Reports a skipped image or pair on stderr, on its own line, and goes on."""
    bar.note(f"skipped: {message}")


def _batch_results(model, batch, paths, maps):
    """(key, distance, map) per pair of a PairBatch, or (key, error, None) for a pair that fails.

    One model call for the batch; if it raises (an image under the trunk's minimum size, say),
    the pairs are retried one by one so that only the failing ones are skipped, by name.
    """
    single = len(batch.keys) == 1
    try:
        d, distance_maps = _distances(model, batch.images0, batch.images1,
                                      paths(batch.keys[0]) if single else batch.keys, maps)
    except ValueError as error:
        if single:
            yield batch.keys[0], error, None
            return
        for k, key in enumerate(batch.keys):
            yield from _batch_results(model, batch._replace(
                keys=[key], images0=batch.images0[k:k + 1], images1=batch.images1[k:k + 1]),
                paths, maps)
        return
    for k, key in enumerate(batch.keys):
        yield key, float(d[k]), None if distance_maps is None else distance_maps[k]


def _input_paths(folder, names):
    return [os.path.join(folder, n) for n in names]


def _check_results_not_input(out, files, folders):
    """The results file may not be an input, nor an image-named file in an input folder (the
    next run would read it as an image)."""
    from lpips_tf.data.images import IMAGE_EXTENSIONS

    image_named = os.path.basename(out).lower().endswith(IMAGE_EXTENSIONS)
    check_not_input(out, "results file", files=files, folders=folders if image_named else ())


def _check_dirs_outputs(args, names0, names1, common):
    """Every output of `dirs` against the inputs, before any work: the results file is no input
    image, the maps' folder lies outside both input folders, and no map is the results file."""
    folders = (args.dir0, args.dir1)
    _check_results_not_input(args.out, _input_paths(args.dir0, names0) +
                             _input_paths(args.dir1, names1), folders)
    if args.spatial_dir:
        check_not_input(args.spatial_dir, "--spatial_dir folder", folders=folders)
        maps = {os.path.realpath(p) for p in _input_paths(args.spatial_dir,
                                                          map(_map_name, common))}
        if os.path.realpath(args.out) in maps:
            raise OutputError(f"the results file {args.out} is also the name of a distance map in "
                              f"--spatial_dir {args.spatial_dir}; choose another name.")
        check_writable_dir(args.spatial_dir, "--spatial_dir folder", create=False)
    check_results_file(args.out)


def _matched_names(args):
    """(names in dir0, names in dir1, same-named ones, the others), the others reported."""
    from lpips_tf.data.images import list_images

    names0, names1 = list_images(args.dir0), list_images(args.dir1)
    in1 = set(names1)
    common = [n for n in names0 if n in in1]
    missing = [n for n in names0 if n not in in1] + sorted(in1 - set(names0))
    if not common:
        raise ValueError(f"{args.dir0} and {args.dir1} share no image file names; `dirs` compares "
                         f"same-named images.")
    if missing:
        shown = ", ".join(repr(n) if not n.isprintable() else n for n in missing[:5])
        print(f"warning: {len(missing)} image(s) have no same-named counterpart and are skipped: "
              f"{shown}{' ...' if len(missing) > 5 else ''}", file=sys.stderr)
    return names0, names1, common, missing


def cmd_dirs(args):
    from lpips_tf.cli.batching import SkippedPair, pair_batches
    from lpips_tf.data.images import distance_map_png, load_image
    from lpips_tf.utils.progress import ProgressBar

    names0, names1, common, missing = _matched_names(args)
    # Outputs are checked before any computation, and created once the model is built.
    _check_dirs_outputs(args, names0, names1, common)
    model = _build_model(args)
    if args.spatial_dir:
        check_writable_dir(args.spatial_dir, "--spatial_dir folder")

    def paths(name):
        return os.path.join(args.dir0, name), os.path.join(args.dir1, name)

    with open_results(args.out) as results:
        rows = ResultsWriter(results, args.format, 1)
        done, skipped, bar = 0, 0, ProgressBar(len(common))
        # Pairs are read lazily, batch_size at a time: memory stays bounded for any folder size.
        for item in pair_batches(((n, *paths(n)) for n in common), load_image, args.batch_size):
            if isinstance(item, SkippedPair):
                _skip(bar, item.message)
                skipped += 1
                bar.add(1)
                continue
            for name, d, distance_map in _batch_results(model, item, paths,
                                                        bool(args.spatial_dir)):
                if isinstance(d, Exception):
                    _skip(bar, d)
                    skipped += 1
                else:
                    if distance_map is not None:  # the map first: a listed pair has its map
                        write_file_atomically(os.path.join(args.spatial_dir, _map_name(name)),
                                              distance_map_png(distance_map))
                    rows.row([name], d)  # line-buffered: on disk at once
                    done += 1
                bar.add(1)
            del item  # the next batch is read without this one still held
        bar.close()
    print(f"{done} distances written to {args.out}" +
          (f"; {skipped} pair(s) skipped (see above)" if skipped else "") +
          (f"; {len(missing)} image(s) without a counterpart" if missing else ""),
          file=sys.stderr)
    return scripts.EXIT_SKIPPED if skipped or missing else scripts.EXIT_DONE


def _size_groups(folder, names, min_size, bar_note):
    """Reads every image once: {(H, W): [names]} of the readable ones, in name order, and the
    number skipped. Pixels are not kept (pairwise reads them again batch by batch)."""
    from lpips_tf.data.images import load_image

    groups, skipped = {}, 0
    for name in names:
        path = os.path.join(folder, name)
        try:
            height, width = load_image(path).shape[:2]
        except (ValueError, OSError) as error:
            bar_note(f"skipped: {error}")
            skipped += 1
            continue
        if min(height, width) < min_size:
            bar_note(f"skipped: {path} is {width}x{height}, under the trunk's minimum size of "
                     f"{min_size} px; upsample it first.")
            skipped += 1
            continue
        groups.setdefault((height, width), []).append(name)
    return groups, skipped


def _report_size_mismatches(groups):
    """Reports the pairs across each two size groups (LPIPS compares images of one size) on
    stderr; returns how many pairs that skips."""
    skipped = 0
    sizes = list(groups)
    for i, a in enumerate(sizes):
        for b in sizes[i + 1:]:
            n_pairs = len(groups[a]) * len(groups[b])
            print(f"skipped: {n_pairs} pair(s) of different sizes: {len(groups[a])} "
                  f"image(s) of {a[1]}x{a[0]} ({groups[a][0]} ...) vs {len(groups[b])} of "
                  f"{b[1]}x{b[0]} ({groups[b][0]} ...); LPIPS compares images of the same "
                  f"size.", file=sys.stderr)
            skipped += n_pairs
    return skipped


def _pairwise_by_size(model, folder, groups, batch_size):
    """`pairwise` on each size group (one trunk pass per image, then a matrix product), under one
    progress bar over all the pairs.

    Returns:
      ({size: condensed distances}, {name: (size, index in its group, group size)}, pairs
      skipped because a file changed since it was first read).
    """
    from lpips_tf.cli.batching import LazyImages
    from lpips_tf.data.images import load_image
    from lpips_tf.uses.pairwise import pairwise
    from lpips_tf.utils.progress import ProgressBar

    bar = ProgressBar(sum(len(g) * (len(g) - 1) // 2 for g in groups.values()))
    condensed, position, skipped = {}, {}, 0
    for size, group in groups.items():
        if len(group) < 2:
            continue
        group_pairs, base = len(group) * (len(group) - 1) // 2, bar.done
        read = [0]

        def on_read(count, group_pairs=group_pairs, base=base, n=len(group), read=read):
            # The work is one trunk pass per image: progress in pairs is that share of them.
            # Called when a batch is read, before its pass: the batches before it are done.
            bar.update(base + group_pairs * read[0] // n)
            read[0] += count

        images = LazyImages([os.path.join(folder, n) for n in group], *size, load_image, on_read)
        try:
            condensed[size] = pairwise(model, images, batch_size=batch_size)
        except ValueError as error:  # a file changed since it was read, say
            bar.note(f"skipped: {group_pairs} pair(s) of {size[1]}x{size[0]} images: {error}")
            skipped += group_pairs
            continue
        finally:
            bar.update(base + group_pairs)
        for k, name in enumerate(group):
            position[name] = (size, k, len(group))
    bar.close()
    return condensed, position, skipped


def _write_pairs(rows, names, condensed, position):
    """Writes `a, b: distance` for every pair of same-size readable images, in the order of the
    names (all i < j); returns the distances in that order."""
    readable = [n for n in names if n in position]
    distances = []
    for i, a in enumerate(readable):
        size, ia, n = position[a]
        offset = ia * n - ia * (ia + 1) // 2 - ia - 1  # pdist index of (ia, jb) is offset + jb
        for b in readable[i + 1:]:
            if position[b][0] == size:
                d = float(condensed[size][offset + position[b][1]])
                distances.append(d)
                rows.row([a, b], d)
    return distances


def cmd_all_pairs(args):
    import numpy as np

    from lpips_tf.data.images import list_images
    from lpips_tf.uses.pairwise import diversity

    names = list_images(args.dir)
    if len(names) < 2:
        raise ValueError(f"{args.dir} holds {len(names)} image(s); all-pairs needs at least 2.")
    # Before any computation; written once the distances are known.
    _check_results_not_input(args.out, _input_paths(args.dir, names), (args.dir,))
    check_results_file(args.out)
    model = _build_model(args)
    groups, skipped = _size_groups(args.dir, names, model.min_input_size,
                                   lambda message: print(message, file=sys.stderr))
    skipped += _report_size_mismatches(groups)
    condensed, position, failed = _pairwise_by_size(model, args.dir, groups, args.batch_size)
    skipped += failed
    with open_results(args.out) as results:
        rows = ResultsWriter(results, args.format, 2)
        distances = _write_pairs(rows, names, condensed, position)
        if distances:
            stats = _summary(np.asarray(distances), condensed, args.n_boot, diversity)
            rows.summary(f"mean over {len(distances)} pairs ({stats}): "
                         f"{np.mean(distances):.6f}")
    if distances:
        print(f"mean distance over {len(distances)} pairs: {np.mean(distances):.6f} ({stats}); "
              f"all written to {args.out}")
    if skipped:
        print(f"{skipped} image(s) or pair(s) skipped (see above)", file=sys.stderr)
    return scripts.EXIT_SKIPPED if skipped or not distances else scripts.EXIT_DONE


def _summary(distances, condensed, n_boot, diversity):
    """"std S, bootstrap 95% interval [L, H]" of the mean distance.

    One size group: images are resampled (pairs sharing an image are not independent). Several:
    the pairs are resampled, which gives a narrower interval than it should; said in the text.
    """
    std = float(distances.std(ddof=1)) if len(distances) > 1 else 0.0
    text = f"std {std:.6f}"
    if n_boot > 0:
        if len(condensed) == 1:
            stats, how = diversity(next(iter(condensed.values())), n_boot=n_boot), ""
        else:
            stats, how = diversity(distances, n_boot=n_boot, resample="pairs"), \
                ", pairs resampled"
        text += f", bootstrap 95% interval of the mean [{stats.ci_low:.6f}, {stats.ci_high:.6f}]" \
                f"{how}"
    return text


def build_parser():
    parser = scripts.ArgumentParser(prog="python -m lpips_tf", description=__doc__)
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
    dirs.add_argument("--spatial_dir", help="also save a distance map PNG per image here "
                      "(<image name>_lpips.png)")
    _add_batch_flag(dirs, "pairs per model call")
    _add_format_flag(dirs)
    _add_model_flags(dirs)
    dirs.set_defaults(func=cmd_dirs)

    all_pairs = sub.add_parser("all-pairs", help="distances between all pairs in one folder")
    all_pairs.add_argument("dir")
    all_pairs.add_argument("--out", "-o", default="lpips_pairs.txt", help="results file")
    _add_batch_flag(all_pairs, "images per trunk call")
    _add_format_flag(all_pairs)
    all_pairs.add_argument("--n_boot", type=int, default=1000,
                           help="bootstrap resamples for the interval of the mean (0: none)")
    _add_model_flags(all_pairs)
    all_pairs.set_defaults(func=cmd_all_pairs)
    return parser


# `main(argv)` returns the exit code (tests); `program()` is `python -m lpips_tf` and `lpips-tf`.
main = scripts.Command(build_parser, lambda args: args.func(args))


def program():
    scripts.run_script(main)
