"""Scoring perceptual metrics on BAPPS-layout data: the library behind evaluate.py.

A *distance function* takes two float32 NHWC batches in [-1, 1] and returns
one distance per pair, (N,). `resolve_variants` turns names ("alex",
"vgg-cos", "l2"), trained-model folders (`<out_dir>/<variant>/model.keras`)
and callables into distance functions; `evaluate` runs them over 2AFC and JND
subsets (each image batch decoded once for all variants); `write_outputs`
writes `results.json`, `results.md` and `comparison.png`.

results.json maps each variant to
`{"2afc": {subset: score, "mean": score}, "jnd": {subset: mAP}, "ci": {...}}`
(scores are fractions in [0, 1]; "ci" holds 95% bootstrap intervals as
[low, high] under the same keys) plus a "human" entry with the 2AFC ceiling.
Subsets of the val split are keyed by their short name ("traditional");
others keep their split ("train/traditional").
"""

import collections
import dataclasses
import json
import os
import sys
import textwrap
import time

import numpy as np

from lpips_tf.core import presets
from lpips_tf.core.weights import describe_trunk_weights
from lpips_tf.core.model import LPIPS
from lpips_tf.evaluation import scoring
from lpips_tf.uses import bootstrap
from lpips_tf.data import bapps
from lpips_tf.data.synthetic import BANNER, is_synthetic
from lpips_tf.utils.progress import ProgressBar

__all__ = [
    "BASELINES",
    "Distance",
    "evaluate",
    "format_markdown",
    "plot_comparison",
    "resolve_sets",
    "resolve_variants",
    "write_outputs",
]



def _l2(x0, x1):
    return scoring.l2_distance(x0, x1, colorspace="Lab")


def _ssim(x0, x1):
    return scoring.ssim_distance(x0, x1, colorspace="Lab")


# The paper's baselines, in Lab like the official scripts.
BASELINES = {"l2": _l2, "ssim": _ssim}


# ----------------------------------------------------------------------------
# Variants.


@dataclasses.dataclass(frozen=True)
class Distance:
    """A distance function of a model, with what its outputs say about it: `trunk_weights`, how
    its trunk's weights are described ("random VGG16 weights", `describe_trunk_weights`)."""

    fn: object
    trunk_weights: object = None

    def __call__(self, x0, x1):
        return self.fn(x0, x1)


def model_distance_fn(model):
    """Wraps a Keras model called as `model([x0, x1])` -> (N,) into a distance function.

    An `lpips_tf.LPIPS` model's plain call is already compiled (one graph for every batch and
    image size); any other model gets a `tf.function` that may retrace per shape.
    """
    if isinstance(model, LPIPS):
        return lambda x0, x1: np.asarray(model([x0, x1])).reshape(-1)
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def call(x0, x1):
        return model([x0, x1], training=False)

    return lambda x0, x1: np.asarray(call(x0, x1)).reshape(-1)


def _saved_model_distance_fn(path):
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    return lambda x0, x1: np.asarray(serve(image0=x0, image1=x1)["distance"]).reshape(-1)


def _run_trunk_weights(folder):
    """The description of the trunk weights a train.py run folder's model was trained from
    (None when the folder has no readable record of them)."""
    try:
        with open(os.path.join(folder, "config.json")) as f:
            record = json.load(f)
        from lpips_tf.training.variants import get_variant

        variant = get_variant(record["variant"])
    except (OSError, ValueError, KeyError):
        return None
    source = record.get("flags", {}).get("trunk_weights") if variant.pretrained else None
    return describe_trunk_weights(variant.net, source)


def _check_run_status(folder):
    """A warning on stderr when `folder` is a train.py run folder not marked finished: its
    model may be from a run that stopped before its final files were written."""
    config = os.path.join(folder, "config.json")
    if not os.path.isfile(config):
        return
    try:
        with open(config) as f:
            status = json.load(f).get("status")
    except (OSError, ValueError, AttributeError):
        status = "unreadable config.json"
    if status != "finished":
        print(f"warning: {folder} is not marked finished (status: {status}); its model may be "
              f"from an interrupted or failed run; rerun train.py to finish it.",
              file=sys.stderr, flush=True)


def _load_keras_file(keras_file):
    """A `.keras` file's model; an existing file that is no whole zip archive, or that Keras
    cannot read, is reported as damaged (Keras itself says "File not found")."""
    import zipfile

    import keras

    try:
        with zipfile.ZipFile(keras_file) as archive:
            bad = archive.testzip()
        problem = f"member {bad} fails its CRC check" if bad else None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        problem = f"not a whole .keras zip archive: {error}"
    if problem is None:
        try:
            return keras.saving.load_model(keras_file)
        except (ValueError, OSError, KeyError, TypeError) as error:
            problem = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    raise ValueError(f"{keras_file} is damaged ({problem}); restore it, or rerun train.py with "
                     f"--overwrite to write it again.")


def _load_trained(path):
    """`Distance` of a train.py output folder or a .keras file."""
    import lpips_tf  # noqa: F401  (registers the custom layers for deserialisation)

    folder = os.path.dirname(path) if os.path.isfile(path) else path
    keras_file = path if os.path.isfile(path) else os.path.join(path, "model.keras")
    saved = os.path.join(path, "saved_model")
    if keras_file.endswith(".keras") and os.path.exists(keras_file):
        _check_run_status(folder)
        fn = model_distance_fn(_load_keras_file(keras_file))
    elif os.path.isdir(saved):
        _check_run_status(folder)
        fn = _saved_model_distance_fn(saved)
    else:
        raise FileNotFoundError(f"{path} has neither model.keras nor saved_model/ (expected a "
                                f"folder written by train.py).")
    return Distance(fn, _run_trunk_weights(folder))


def _official(spec, trunk_weights):
    """`Distance` of a preset specification ("alex", "vgg-cos", "alex:taps=4")."""
    from lpips_tf.core.model import LPIPS

    net = spec.preset.net
    if isinstance(trunk_weights, dict):  # per-net sources, e.g. {"alex": path, "squeeze": path}
        trunk_weights = trunk_weights.get(net, "torchvision")
    model = LPIPS.from_preset(spec.text, spatial=False, trunk_weights=trunk_weights)
    return Distance(model_distance_fn(model), describe_trunk_weights(net, trunk_weights))


def _trained_name(path):
    """A trained model's name: its folder's (`<out_dir>/<variant>/model.keras` -> variant)."""
    name = os.path.basename(os.path.normpath(path))
    if name.endswith(".keras"):
        name = name[: -len(".keras")]
    if name == "model":
        name = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return name


def _resolve(spec, trunk_weights):
    """(name, distance function, from a path) of one variant specification."""
    if isinstance(spec, tuple):
        return spec[0], spec[1], False
    if spec in BASELINES:
        return spec, BASELINES[spec], False
    if os.path.exists(spec):
        return _trained_name(spec), _load_trained(spec), True
    try:
        parsed = presets.parse_spec(spec)
    except ValueError as error:
        raise ValueError(f"A variant must be a preset ({', '.join(presets.preset_names())}, "
                         f"optionally with :taps=K), l2, ssim, or an existing path to a train.py "
                         f"output folder; {error}") from None
    return parsed.text, _official(parsed, trunk_weights), False


def _unique_names(resolved, specs):
    """{name: fn}; a trained folder named like another variant (saved_models/alex-cos next to
    alex-cos) is told apart by a suffix rather than refused: comparing the two is the point."""
    counts = collections.Counter(name for name, _, _ in resolved)
    variants = {}
    for name, fn, from_path in resolved:
        if from_path and counts[name] > 1:
            name = f"{name} (trained)"
        if name in variants:
            raise ValueError(f"Variant name {name!r} appears twice. Received: specs={specs!r}")
        variants[name] = fn
    return variants


def resolve_variants(specs, trunk_weights="torchvision", baselines=True):
    """Maps variant specs to distance functions.

    Args:
      specs: list (or comma-separated string) of
        * presets (`lpips_tf.core.presets`, `LPIPS.presets`): "alex", "vgg", "squeeze" (LPIPS
          with the authors' lin weights), "-cos" for the cos distance ("alex-cos"), "-v0.0" for
          version 0.0, and ":taps=K" (the first K trunk taps) or ":taps=conv1+conv3" (named
          taps) for a distance over fewer layers ("alex-cos:taps=4"); named by the preset's
          own spelling (an alias such as "alex-lin" is reported as "alex");
        * "l2", "ssim": the baselines;
        * a path to a train.py output folder (`model.keras` or
          `saved_model/` inside) or to a .keras file; named by its folder;
        * or a `(name, callable)` pair.
      trunk_weights: passed to `lpips_tf.LPIPS` for presets ("torchvision", "keras", None or a
        path), or a dict net -> such a value (`parse_trunk_weights_per_net`; nets not in it use
        "torchvision").
      baselines: add "l2" and "ssim" when not already listed.

    Returns:
      dict name -> distance function, in the order given (baselines last); models' are
      `Distance`s.
    """
    if isinstance(specs, str):
        specs = [s.strip() for s in specs.split(",") if s.strip()]
    variants = _unique_names([_resolve(spec, trunk_weights) for spec in specs or []], specs)
    if baselines:
        for name, fn in BASELINES.items():
            variants.setdefault(name, fn)
    if not variants:
        raise ValueError("No variants to evaluate.")
    return variants


def trunk_weights_note(results):
    """"Trunk weights: random AlexNet weights; ..." for titles: each distinct description of the
    evaluated models' trunks once, in order ("" when no model has one)."""
    described = results.get("_info", {}).get("trunk_weights", {})
    seen = list(dict.fromkeys(described.values()))
    return f"Trunk weights: {'; '.join(seen)}" if seen else ""


# ----------------------------------------------------------------------------
# Sets.


def resolve_sets(data_dir, sets="all"):
    """Expands --sets into {"2afc": [subsets], "jnd": [subsets]}.

    Args:
      sets: comma-separated (or list) entries: "all" (every val subset
        present), "2afc" / "jnd" (every val subset of that kind), or one
        subset such as "2afc/val/cnn", "jnd/val/traditional", "2afc/train/mix".
    """
    if isinstance(sets, str):
        sets = [s.strip() for s in sets.split(",") if s.strip()]
    out = {"2afc": [], "jnd": []}

    def add(kind, subsets):
        out[kind] += [s for s in subsets if s not in out[kind]]

    for entry in sets:
        if entry == "all":
            found = False
            for kind in out:
                if os.path.isdir(os.path.join(data_dir, kind, "val")):
                    add(kind, bapps.find_subsets(data_dir, kind, "val"))
                    found = True
            if not found:
                raise bapps.DataError(
                    f"No 2afc/val or jnd/val folder in {data_dir} (expected the BAPPS layout)."
                )
        elif entry in out:
            add(entry, bapps.find_subsets(data_dir, entry, "val"))
        else:
            kind, _, subset = entry.partition("/")
            if kind not in out or subset.count("/") != 1:
                raise ValueError(
                    'Sets are "all", "2afc", "jnd" or "<kind>/<split>/<subset>" such as '
                    f'"2afc/val/cnn". Received: {entry!r}'
                )
            add(kind, [subset])
    if not out["2afc"] and not out["jnd"]:
        raise ValueError(f"No sets to evaluate. Received: sets={sets!r}")
    return out


def _key(subset):
    split, _, name = subset.partition("/")
    return name if split == "val" else subset


# ----------------------------------------------------------------------------
# Evaluation.


def _named_errors(dataset, index):
    """Iterates `dataset`; a decode error inside tf.data is re-raised naming the bad file."""
    import tensorflow as tf

    iterator = iter(dataset)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except tf.errors.InvalidArgumentError:
            bapps.name_bad_image(index.image_paths())  # raises DataError naming the file
            raise
        yield item


def _collect(dataset, variants, pairs, bar):
    """Runs every variant on every batch; returns ({variant: {pair: d}}, labels). `bar`: a
    `ProgressBar` over the items, or None."""
    dists = {v: {p: [] for p in pairs} for v in variants}
    labels = []
    for images, label_batch in dataset:
        images = {k: v.numpy() for k, v in images.items()}
        for v, fn in variants.items():
            for p, (a, b) in pairs.items():
                dists[v][p].append(np.asarray(fn(images[a], images[b]), np.float64).reshape(-1))
        labels.append(label_batch.numpy().reshape(-1))
        if bar:
            bar.add(len(labels[-1]))
    if bar:
        bar.close()
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0)
    return {v: {p: cat(d) for p, d in ds.items()} for v, ds in dists.items()}, cat(labels)


def _exact_labels(labels, index_labels):
    """The index's float64 judgments, after checking they align with the batches'."""
    if labels.shape != index_labels.shape or not np.allclose(labels, index_labels, atol=1e-6):
        raise RuntimeError("Batches came out of order; cannot align judgments.")
    return index_labels


# What each kind of subset compares, and what its items are called in the progress lines (a bar
# on a terminal, a line every 10 s and one at the end in a log; on stdout, with the results).
_PAIRS = {"2afc": {"d0": ("ref", "p0"), "d1": ("ref", "p1")}, "jnd": {"d": ("p0", "p1")}}
_ITEMS = {"2afc": "triplets", "jnd": "pairs"}


def _collected_subsets(data_dir, kind, subsets, variants, load_size, batch_size, progress,
                       counts):
    """Per subset of `kind`: (key, {variant: {pair: distances}}, the index's labels), counting
    the items into `counts[kind]`."""
    for subset, index, ds in bapps.subset_datasets(data_dir, kind, subsets, load_size,
                                                   batch_size):
        key = _key(subset)
        bar = (ProgressBar(len(index), _ITEMS[kind], stream=sys.stdout, label=f"{kind} {subset}")
               if progress else None)
        dists, labels = _collect(_named_errors(ds, index), variants, _PAIRS[kind], bar)
        labels = _exact_labels(labels, index.judge if kind == "2afc" else index.same)
        counts[kind][key] = len(index)
        yield key, dists, labels


def _empty_scores():
    return {"2afc": {}, "jnd": {}, "ci": {"2afc": {}, "jnd": {}}}


def _set_score(entry, kind, key, score, ci):
    entry[kind][key] = score
    entry["ci"][kind][key] = list(ci)


def _score_2afc(subsets, variants, results, human, details, boot):
    """2AFC scores per subset and their means, for every variant and for the observers.

    `subsets` yields (key, distances, judgments); `boot` holds the bootstrap settings.
    """
    per_item = {v: [] for v in variants}
    human_items = []
    keys = []
    for key, dists, judge in subsets:
        keys.append(key)
        details["2afc"][key] = {"judge": judge}
        for v in variants:
            score, info = scoring.score_2afc(dists[v]["d0"], dists[v]["d1"], judge)
            _set_score(results[v], "2afc", key, score, scoring.bootstrap_ci(info["scores"], **boot))
            per_item[v].append(info["scores"])
            details["2afc"][key][v] = dists[v]
        ceiling, info = scoring.human_ceiling_2afc(judge)
        _set_score(human, "2afc", key, ceiling, scoring.bootstrap_ci(info["scores"], **boot))
        human_items.append(info["scores"])
    # The mean over subsets, with an interval from resampling within each subset.
    for entry, items in [*((results[v], per_item[v]) for v in variants), (human, human_items)]:
        _set_score(entry, "2afc", "mean", float(np.mean([entry["2afc"][k] for k in keys])),
                   scoring.bootstrap_ci_of_mean(items, **boot))


def _score_jnd(subsets, variants, results, details, boot):
    """JND mAP per subset for every variant; `subsets` yields (key, distances, same)."""
    mapfn = lambda d, s: scoring.score_jnd(d, s)[0]
    for key, dists, same in subsets:
        details["jnd"][key] = {"same": same}
        for v in variants:
            _set_score(results[v], "jnd", key, scoring.score_jnd(dists[v]["d"], same)[0],
                       scoring.bootstrap_ci((dists[v]["d"], same), statistic=mapfn, **boot))
            details["jnd"][key][v] = dists[v]


def evaluate(data_dir, variants, sets="all", load_size=64, batch_size=50, n_boot=1000,
             confidence=0.95, seed=0, progress=True, *, alpha=None):
    """Scores distance functions on 2AFC and JND subsets.

    Args:
      data_dir: dataset root in the BAPPS layout.
      variants: dict name -> distance function (see `resolve_variants`).
      sets: see `resolve_sets`.
      load_size, batch_size: as in `lpips_tf.data.twoafc_dataset`.
      n_boot, confidence, seed: bootstrap of the confidence intervals (`alpha` is deprecated).
      progress: progress per subset on stdout (a bar on a terminal, a line every 10 s in a
        log).

    Returns:
      The results dict (schema in the module docstring), with extra
      "_details" (per-subset arrays, not written to JSON) and "_info" entries.
    """
    start = time.perf_counter()
    confidence = bootstrap.confidence_from_alpha(alpha, confidence, "evaluate")
    sets = resolve_sets(data_dir, sets)
    results = {v: _empty_scores() for v in variants}
    synthetic = is_synthetic(data_dir)
    human = {**_empty_scores(),
             "observers": "simulated (synthetic data)" if synthetic else "human"}
    details = {"2afc": {}, "jnd": {}}
    counts = {"2afc": {}, "jnd": {}}
    boot = {"n_boot": n_boot, "confidence": confidence, "seed": seed}

    def subsets(kind):
        return _collected_subsets(data_dir, kind, sets[kind], variants, load_size, batch_size,
                                  progress, counts)

    if sets["2afc"]:
        _score_2afc(subsets("2afc"), variants, results, human, details, boot)
    if sets["jnd"]:
        _score_jnd(subsets("jnd"), variants, results, details, boot)
    results["human"] = human
    results["_details"] = details
    results["_info"] = {
        "data_dir": os.path.abspath(data_dir),
        "synthetic": synthetic,
        "warning": BANNER if synthetic else None,
        "counts": counts,
        "trunk_weights": {v: fn.trunk_weights for v, fn in variants.items()
                          if isinstance(fn, Distance) and fn.trunk_weights},
        "load_size": load_size,
        "n_boot": n_boot,
        "confidence": confidence,
        "seconds": time.perf_counter() - start,
    }
    return results


# ----------------------------------------------------------------------------
# Outputs.


def _variants(results):
    return [k for k in results if not k.startswith("_") and k != "human"]


def _cell(value, ci):
    if value is None:
        return "-"
    if ci is None:
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def format_markdown(results):
    """A Markdown table: one row per variant (and the human ceiling), scores x100 with 95% CIs."""
    info = results.get("_info", {})
    variants = _variants(results)
    twoafc = list(results[variants[0]]["2afc"]) if variants else []
    jnd = list(results[variants[0]]["jnd"]) if variants else []
    cols = [("2afc", k) for k in twoafc] + [("jnd", k) for k in jnd]
    header = ["variant"] + [
        f"2AFC {k}" if kind == "2afc" else f"JND {k} (mAP)" for kind, k in cols
    ]
    lines = []
    if info.get("synthetic"):
        lines += [f"**{BANNER}.**", ""]
    conf = int(round(100 * info.get("confidence", 0.95)))
    lines += [
        f"Scores x100 with {conf}% bootstrap confidence intervals"
        + (f" ({info['n_boot']} resamples)" if "n_boot" in info else "")
        + "; 2AFC mean = unweighted mean over subsets.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    rows = variants + (["human"] if "human" in results else [])
    for v in rows:
        entry = results[v]
        name = v
        if v == "human":
            name = "human ceiling" if entry.get("observers", "human") == "human" else "observer ceiling (simulated)"
        cells = []
        for kind, k in cols:
            value = entry[kind].get(k)
            ci = entry.get("ci", {}).get(kind, {}).get(k)
            cells.append(_cell(value, ci))
        lines.append("| " + " | ".join([name] + cells) + " |")
    counts = info.get("counts")
    if counts:
        sizes = ", ".join(f"{kind} {k}: {n}" for kind in counts for k, n in counts[kind].items())
        lines += ["", f"Items per subset: {sizes}. Data: {info.get('data_dir')}."]
    if trunk_weights_note(results):
        lines += ["", trunk_weights_note(results) + "."]
    return "\n".join(lines) + "\n"


def _plotted_keys(results, variants, kind):
    """The subsets a panel shows: the 2AFC "mean" only when it averages several subsets."""
    keys = list(results[variants[0]][kind])
    if kind == "2afc" and len(keys) == 2 and "mean" in keys:
        keys.remove("mean")
    return keys


def _bars(ax, results, variants, kind, keys):
    """One group of bars per subset, one bar per variant, with its interval and its value."""
    import matplotlib.pyplot as plt

    width = 0.8 / max(1, len(variants))
    colors = plt.get_cmap("tab10").colors
    x = np.arange(len(keys))
    for i, v in enumerate(variants):
        values = np.array([results[v][kind][k] for k in keys]) * 100
        cis = np.array([results[v]["ci"][kind][k] for k in keys]) * 100
        bars = ax.bar(x + (i - (len(variants) - 1) / 2) * width, values, width,
                      yerr=np.abs(cis.T - values[None]), capsize=2, label=v,
                      color=colors[i % len(colors)])
        if len(variants) * len(keys) <= 40:  # the numbers, where they fit, clear of the bars
            ax.bar_label(bars, fmt="%.1f", fontsize=7, label_type="center", rotation=90,
                         color="white")
    human_entry = results.get("human", {})
    human = human_entry.get(kind, {})
    ceiling = ("human ceiling" if human_entry.get("observers", "human") == "human"
               else "simulated-observer ceiling")
    for j, k in enumerate(keys):
        if k in human:
            ax.hlines(100 * human[k], j - 0.45, j + 0.45, colors="k", linestyles="--",
                      label=ceiling if j == 0 else None)
    ax.set_xticks(x, keys, rotation=20)


def plot_comparison(results, path):
    """Bar chart of 2AFC and JND scores per subset, with CI error bars, as a PNG.

    The axes start at 0, so that bar heights compare honestly; each bar carries its value.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = _variants(results)
    kinds = [k for k in ("2afc", "jnd") if variants and results[variants[0]][k]]
    keys = {kind: _plotted_keys(results, variants, kind) for kind in kinds}
    fig, axes = plt.subplots(
        1, len(kinds), figsize=(max(7, 1.6 * sum(len(k) for k in keys.values()) + 4), 5),
        squeeze=False, gridspec_kw={"width_ratios": [len(keys[kind]) for kind in kinds]})
    for ax, kind in zip(axes[0], kinds):
        _bars(ax, results, variants, kind, keys[kind])
        ax.set_ylabel("2AFC score x100" if kind == "2afc" else "JND mAP x100")
        ax.set_title("2AFC" if kind == "2afc" else "JND")
        ax.set_ylim(0, 105)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    info = results.get("_info", {})
    conf = int(round(100 * info.get("confidence", 0.95)))
    resamples = f", {info['n_boot']} resamples" if "n_boot" in info else ""
    # Below the panels: a legend at the side overlaps the last panel when names are long.
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(len(labels), 4),
               frameon=False, title_fontsize=8,
               title=f"Error bars: {conf}% bootstrap confidence intervals{resamples}")
    synthetic = info.get("synthetic")
    notes = [textwrap.fill(BANNER, 100)] * bool(synthetic) + [trunk_weights_note(results)]
    if any(notes):
        fig.suptitle("\n".join(n for n in notes if n), color="darkred" if synthetic else "black",
                     fontsize=9)
    rows = -(-len(labels) // 4)
    fig.tight_layout(rect=(0, 0.08 + 0.05 * rows, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def json_results(results):
    """The JSON-serialisable part of `results` (variants and "human")."""
    return {k: v for k, v in results.items() if not k.startswith("_")}


def write_outputs(results, out_dir):
    """Writes results.json, results.md and comparison.png; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {
        "json": os.path.join(out_dir, "results.json"),
        "markdown": os.path.join(out_dir, "results.md"),
        "chart": os.path.join(out_dir, "comparison.png"),
    }
    with open(paths["json"], "w") as f:
        json.dump(json_results(results), f, indent=2)
    with open(paths["markdown"], "w") as f:
        f.write(format_markdown(results))
    plot_comparison(results, paths["chart"])
    return paths
