"""The seed brief's comparison end to end: train its models, evaluate them, write one report.

    python experiment.py --data_dir ./dataset --out_dir outputs/seed_experiment

The brief (../shared/seed) compares five models, "VGG16 pretrained (2 convolutional layers) +
cosine distance", "... + LPIPS distance + small fully connected network", the same two for
"AlexNet pretrained (4 convolutional layers)", and "VGG16 untrained network + cosine distance",
shows accuracy and loss per epoch for the best one, and concludes:
  (a) the LPIPS-distance models outperform the cosine ones;
  (b) VGG beats AlexNet with the LPIPS distance;
  (c) AlexNet beats VGG with the cosine distance.

`run_experiment` trains those models (train.py's variants `vgg2-cos`, `vgg2-lin`, `alex4-cos`,
`alex4-lin`, `vgg-rand-cos`) and, for reference, the paper's full-depth `alex-lin` and `vgg-lin`,
each in `<out_dir>/runs/<variant>/` through `lpips_tf.training.train`, all on cached channel
statistics (every one of them has a frozen trunk: the lin variants learn a vector over the
statistics, the cosine ones fit only the judgment network on their plain sum). It then scores
them with the L2 and SSIM baselines (`lpips_tf.evaluation.evaluate`) and writes `<out_dir>/report/`:

  report.md, report.json     the table in the brief's shape (model, distance, layers, 2AFC per
                             subset and mean, JND mAP, 95% bootstrap intervals) and the claims
  accuracy_best_model.png,   the brief's "Grafic 1" and "Grafic 2": 2AFC and loss per epoch,
  loss_best_model.png        train and validation, of the model with the best 2AFC mean
  val_2afc_curves.png        validation 2AFC per epoch of every trained model
  evaluation/                evaluate.py's results.json, results.md and comparison.png

Each claim is judged from paired bootstrap intervals (`paired_difference`): the same validation
triplets are resampled for both models (within each subset, as for the 2AFC mean), and the 95%
interval of the difference of their 2AFC means decides (`verdict`): above 0 "supported", below 0
"contradicted", otherwise "not resolved".

Resuming: a finished run folder (config.json status "finished", same settings) is skipped, an
interrupted one resumes after its last epoch (train.py's own resume), and the evaluation, which
takes minutes, runs again. Synthetic data (`lpips_tf.data.synthetic`) and random trunk weights
are stated on every output.
"""

import dataclasses
import json
import os
import textwrap
import time

import numpy as np

from lpips_tf.evaluation import scoring
from lpips_tf.data import bapps
from lpips_tf.data.synthetic import BANNER, is_synthetic
from lpips_tf.training.config import DEFAULTS as TRAIN_DEFAULTS

CONFIDENCE = 0.95
_NET_TITLES = {"alex": "AlexNet", "vgg": "VGG16", "squeeze": "SqueezeNet"}


@dataclasses.dataclass(frozen=True)
class Model:
    """One model of the comparison.

    Attributes:
      variant: the train.py variant that trains it (and its run folder's name).
      brief: the brief's wording; None for the paper's full-depth references.
      distance: "cosine" or "LPIPS" (learned lin layers); every model also has the judgment
        network G ("small fully connected network") that training fits.
    """

    variant: str
    brief: object
    distance: str


MODELS = (
    Model("vgg2-cos", "VGG16 pretrained (2 convolutional layers) + cosine distance", "cosine"),
    Model("vgg2-lin", "VGG16 pretrained (2 convolutional layers) + LPIPS distance + small fully "
          "connected network", "LPIPS"),
    Model("alex4-cos", "AlexNet pretrained (4 convolutional layers) + cosine distance", "cosine"),
    Model("alex4-lin", "AlexNet pretrained (4 convolutional layers) + LPIPS distance + small "
          "fully connected network", "LPIPS"),
    Model("vgg-rand-cos", "VGG16 untrained network + cosine distance", "cosine"),
    Model("alex-lin", None, "LPIPS"),
    Model("vgg-lin", None, "LPIPS"),
)
MODEL_NAMES = tuple(m.variant for m in MODELS)
# Training order: per net, the deepest model first, so that the shallower ones read the first
# columns of its cached statistics instead of running their own trunk pass (see
# `lpips_tf.training.cached_stats`), and a cosine model after the lin model of the same taps,
# whose statistics it shares. The report keeps the brief's order (MODELS).
TRAIN_ORDER = ("alex-lin", "alex4-lin", "alex4-cos", "vgg-lin", "vgg2-lin", "vgg2-cos",
               "vgg-rand-cos")


@dataclasses.dataclass(frozen=True)
class Claim:
    """A conclusion of the brief, as pairs (better, worse) of variants: it holds when the first
    of each pair scores higher."""

    key: str
    statement: str
    pairs: tuple


CLAIMS = (
    Claim("a", "The models using the LPIPS distance outperform the ones using the cosine "
          "distance", (("vgg2-lin", "vgg2-cos"), ("alex4-lin", "alex4-cos"))),
    Claim("b", "VGG outperforms AlexNet when using the LPIPS distance",
          (("vgg2-lin", "alex4-lin"),)),
    Claim("c", "AlexNet outperforms VGG when using the cosine distance",
          (("alex4-cos", "vgg2-cos"),)),
)


# ------------------------------------------------------------------------------------------------
# The statistics behind the claims.


def verdict(low, high):
    """"supported" when the interval of (better - worse) lies above 0, "contradicted" below 0,
    "not resolved" when it contains 0."""
    if low > 0:
        return "supported"
    if high < 0:
        return "contradicted"
    return "not resolved"


def paired_difference(scores_a, scores_b, n_boot=1000, alpha=1 - CONFIDENCE, seed=0):
    """Difference of two models' 2AFC means over the same triplets, with a paired bootstrap
    interval.

    Args:
      scores_a, scores_b: per subset, the per-triplet 2AFC scores of each model (lists of 1-D
        arrays over the same triplets in the same order).

    Returns:
      (difference, (low, high)): the difference of the unweighted means over subsets (what the
      2AFC mean column reports), and its percentile interval from resampling triplets within each
      subset, the same triplets for both models (so what the two models share cancels out).
    """
    if len(scores_a) != len(scores_b) or not scores_a:
        raise ValueError(f"Both models need scores on the same subsets. Received: "
                         f"{len(scores_a)} and {len(scores_b)} subsets")
    diffs = []
    for a, b in zip(scores_a, scores_b):
        a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
        if a.shape != b.shape:
            raise ValueError(f"Paired scores need the same triplets. Received: {a.size} and "
                             f"{b.size} scores")
        diffs.append(a - b)
    difference = float(np.mean([d.mean() for d in diffs]))
    return difference, scoring.bootstrap_ci_of_mean(diffs, n_boot=n_boot, alpha=alpha, seed=seed)


def judge_claim(claim, pair_results):
    """The claim's verdict from its pairs' results ({"verdict": ...} per pair, in order).

    Every pair supported: "supported". Any pair contradicted: "contradicted" (the general
    statement fails for that pair). Otherwise "not resolved". A claim with a pair that was not
    evaluated (its models not in the run) is "not evaluated".
    """
    verdicts = [r["verdict"] for r in pair_results]
    if len(verdicts) != len(claim.pairs) or "not evaluated" in verdicts:
        return "not evaluated"
    if all(v == "supported" for v in verdicts):
        return "supported"
    if "contradicted" in verdicts:
        return "contradicted"
    return "not resolved"


def _points(x):
    return f"{100 * x:+.2f}"


def claim_text(claim, verdict_, pair_results, caveats=()):
    """One paragraph: the claim, its verdict, each pair's difference and interval, the caveats."""
    parts = []
    for r in pair_results:
        if r["verdict"] == "not evaluated":
            parts.append(f"{r['better']} vs {r['worse']}: not evaluated (not in this run)")
            continue
        low, high = r["ci"]
        parts.append(f"{r['better']} - {r['worse']} = {_points(r['difference'])} 2AFC points, "
                     f"{int(100 * CONFIDENCE)}% interval [{_points(low)}, {_points(high)}]: "
                     f"{r['verdict']}")
    text = (f"({claim.key}) {claim.statement}: {verdict_.upper()} on this data. "
            + "; ".join(parts) + ".")
    if caveats:
        text += " " + " ".join(caveats)
    return text


def evaluate_claims(per_triplet, n_boot=1000, seed=0, caveats_for=None):
    """Judges `CLAIMS` from per-triplet 2AFC scores.

    Args:
      per_triplet: {variant: [per-subset 1-D score arrays]} over the same triplets.
      caveats_for: function(claim) -> list of sentences to append (synthetic data, random
        trunks); None for none.

    Returns:
      A list of dicts: key, statement, verdict, pairs (better, worse, difference, ci, verdict),
      text.
    """
    out = []
    for claim in CLAIMS:
        pairs = []
        for better, worse in claim.pairs:
            if better not in per_triplet or worse not in per_triplet:
                pairs.append({"better": better, "worse": worse, "difference": None, "ci": None,
                              "verdict": "not evaluated"})
                continue
            diff, ci = paired_difference(per_triplet[better], per_triplet[worse], n_boot=n_boot,
                                         seed=seed)
            pairs.append({"better": better, "worse": worse, "difference": diff, "ci": list(ci),
                          "verdict": verdict(*ci)})
        result = judge_claim(claim, pairs)
        caveats = caveats_for(claim) if caveats_for else []
        out.append({"key": claim.key, "statement": claim.statement, "verdict": result,
                    "pairs": pairs, "caveats": caveats,
                    "text": claim_text(claim, result, pairs, caveats)})
    return out


# ------------------------------------------------------------------------------------------------
# Settings.


def parse_trunk_weights(value):
    """Per-net trunk sources from "torchvision", "random" / "none", a path, or
    "alex=PATH,vgg=random" (nets not named: torchvision).

    Returns:
      {"alex": source, "vgg": source} with None for random weights.
    """
    def one(v):
        v = v.strip()
        return None if v.lower() in ("none", "random") else v

    if value is None:
        return {"alex": None, "vgg": None}
    if "=" not in value:
        return {"alex": one(value), "vgg": one(value)}
    sources = {"alex": "torchvision", "vgg": "torchvision"}
    for item in value.split(","):
        net, sep, source = item.partition("=")
        net = net.strip()
        if not sep or not source.strip() or net not in sources:
            raise ValueError(f'trunk_weights per net must look like "alex=PATH,vgg=random" (nets: '
                             f'alex, vgg). Received: {value!r}')
        sources[net] = one(source)
    return sources


def describe_trunk(net, source):
    """How a trunk's weights are labelled in the report."""
    title = _NET_TITLES[net]
    if source is None:
        return f"random {title} weights"
    if source == "torchvision":
        return f"torchvision ImageNet {title} weights"
    if source == "keras":
        return f"Keras Applications ImageNet {title} weights"
    return f"{title} weights from {source}"


def model_label(model, variant, sources):
    """The brief's wording for a model, with "pretrained" replaced where the trunk is random."""
    from lpips_tf.core.trunks import get_trunk_module

    title = _NET_TITLES[variant.net]
    random_trunk = not variant.pretrained or sources[variant.net] is None
    if model.brief is None:
        n = len(get_trunk_module(variant.net).TAPS)
        label = (f"{title} pretrained (all {n} layers, the paper's {variant.name}) + LPIPS "
                 f"distance + small fully connected network [reference]")
    else:
        label = model.brief
    if variant.pretrained and random_trunk:
        label = label.replace(f"{title} pretrained", f"{title} with random {title} weights "
                              f"(no pretrained weights given)")
    return label


@dataclasses.dataclass
class ExperimentConfig:
    """Settings of `run_experiment`; the training settings go to every model's `TrainConfig`.

    `train_sets` / `val_sets` None: every 2AFC train / val subset present in `data_dir` (for
    BAPPS, train.py's defaults). `eval_sets`: evaluate's --sets. `trunk_weights`: see
    `parse_trunk_weights`. `models`: variants from `MODEL_NAMES` (default all). The training
    settings default to `TrainConfig`'s.
    """

    data_dir: str
    out_dir: str = "outputs/seed_experiment"
    trunk_weights: str = "torchvision"
    models: tuple = MODEL_NAMES
    epochs: int = TRAIN_DEFAULTS["epochs"]
    epochs_decay: int = TRAIN_DEFAULTS["epochs_decay"]
    lr: float = TRAIN_DEFAULTS["lr"]
    batch_size: int = TRAIN_DEFAULTS["batch_size"]
    steps_per_epoch: object = TRAIN_DEFAULTS["steps_per_epoch"]
    seed: int = TRAIN_DEFAULTS["seed"]
    load_size: int = TRAIN_DEFAULTS["load_size"]
    train_sets: object = None
    val_sets: object = None
    eval_sets: str = "all"
    n_boot: int = 1000
    save_judgment_model: bool = TRAIN_DEFAULTS["save_judgment_model"]
    verbose: object = TRAIN_DEFAULTS["verbose"]


def _subsets(data_dir, split, given):
    if given:
        return tuple(given)
    return tuple(bapps.find_subsets(data_dir, "2afc", split))


def train_configs(config):
    """{variant: TrainConfig} for the chosen models, all on cached statistics."""
    from lpips_tf import training

    unknown = [m for m in config.models if m not in MODEL_NAMES]
    if unknown or not config.models:
        raise training.ConfigError(f"models must be among {', '.join(MODEL_NAMES)}. Received: "
                                   f"{list(config.models)}")
    sources = parse_trunk_weights(config.trunk_weights)
    train_sets = _subsets(config.data_dir, "train", config.train_sets)
    val_sets = _subsets(config.data_dir, "val", config.val_sets)
    out = {}
    for name in config.models:
        variant = training.get_variant(name)
        out[name] = training.TrainConfig(
            data_dir=config.data_dir, variant=name, train_sets=train_sets, val_sets=val_sets,
            # Random-trunk variants (vgg-rand-cos) ignore it; they draw from the seed.
            trunk_weights=sources[variant.net] if variant.pretrained else None,
            epochs=config.epochs, epochs_decay=config.epochs_decay, batch_size=config.batch_size,
            lr=config.lr, load_size=config.load_size, out_dir=os.path.join(config.out_dir, "runs"),
            seed=config.seed, steps_per_epoch=config.steps_per_epoch,
            save_judgment_model=config.save_judgment_model, verbose=config.verbose,
            # Every model here has a frozen trunk: one trunk pass, then epochs over vectors.
            cached_stats=True)
    return out


def run_state(train_config):
    """"finished", "interrupted" or "new" for a model's run folder; a finished run trained with
    other settings is refused (its results would not be the ones asked for)."""
    from lpips_tf import training
    from lpips_tf.training.config import changed_settings

    path = os.path.join(train_config.out_dir, train_config.variant, "config.json")
    if not os.path.isfile(path):
        return "new"
    with open(path) as f:
        record = json.load(f)
    if record.get("status") != "finished":
        return "interrupted"
    changed = changed_settings(train_config, record.get("flags", {}))
    if changed:
        raise training.ConfigError(
            f"{os.path.dirname(path)} holds a finished run with other settings (saved, now): "
            f"{changed}. Delete that folder to retrain it, or choose another out_dir.")
    return "finished"


# ------------------------------------------------------------------------------------------------
# The run.


def run_experiment(config, log=print):
    """Trains (or reuses) every model, evaluates them and writes the report.

    Returns:
      The report dict (what report.json holds) with "paths" of the written files.
    """
    from lpips_tf import training
    from lpips_tf.evaluation import evaluate as evaluation

    start = time.time()
    training.check_data_dir(config.data_dir)
    synthetic = is_synthetic(config.data_dir)
    sources = parse_trunk_weights(config.trunk_weights)
    configs = train_configs(config)
    for name, train_config in configs.items():
        variant = training.check_config(train_config)
        # Every model's trunk before any training: offline, nothing is written.
        training.check_trunk_weights(variant, train_config.trunk_weights)
    states = {name: run_state(c) for name, c in configs.items()}
    if synthetic:
        log(BANNER + ".")
    for net in ("alex", "vgg"):
        log(f"{_NET_TITLES[net]} trunk: {describe_trunk(net, sources[net])}.")
    log("Plan: " + ", ".join(f"{n} ({'done, skipped' if s == 'finished' else s})"
                             for n, s in states.items()))

    timings = {}
    for name in sorted(configs, key=TRAIN_ORDER.index):
        train_config = configs[name]
        if states[name] == "finished":
            continue
        model_start = time.time()
        log(f"=== {name}: {'resuming' if states[name] == 'interrupted' else 'training'} ===")
        training.train(train_config, log=lambda line, n=name: log(f"[{n}] {line}"))
        timings[name] = round(time.time() - model_start, 1)

    eval_start = time.time()
    log("=== evaluation ===")
    run_dirs = {name: os.path.join(c.out_dir, name) for name, c in configs.items()}
    variants = evaluation.resolve_variants(list(run_dirs.values()), baselines=True)
    results = evaluation.evaluate(config.data_dir, variants, sets=config.eval_sets,
                                  load_size=config.load_size, batch_size=config.batch_size,
                                  n_boot=config.n_boot, seed=config.seed, progress=True)
    report_dir = os.path.join(config.out_dir, "report")
    eval_paths = evaluation.write_outputs(results, os.path.join(report_dir, "evaluation"))
    timings["evaluation"] = round(time.time() - eval_start, 1)

    report = build_report(config, configs, run_dirs, results, sources, synthetic)
    report["timing"] = {"seconds_total": round(time.time() - start, 1),
                        "seconds_per_step": timings,
                        "skipped": [n for n, s in states.items() if s == "finished"]}
    report["paths"] = write_report(report, report_dir, run_dirs)
    report["paths"]["evaluation"] = eval_paths
    log(format_report_markdown(report))
    log(f"Report: {report['paths']['markdown']} ({report['timing']['seconds_total']:.0f} s).")
    return report


def _per_triplet_scores(results, variant):
    """Per subset, the per-triplet 2AFC scores of `variant` (from evaluate's details)."""
    out = []
    for key, detail in results["_details"]["2afc"].items():
        d = detail[variant]
        out.append(scoring.score_2afc(d["d0"], d["d1"], detail["judge"])[1]["scores"])
    return out


def build_report(config, configs, run_dirs, results, sources, synthetic):
    """The report dict: rows per model and baseline, the best model, the claims."""
    from lpips_tf import training
    from lpips_tf.training.run_folder import read_history
    from lpips_tf.core.trunks import get_trunk_module

    models = {m.variant: m for m in MODELS}
    rows = []
    for name in configs:
        variant = training.get_variant(name)
        module = get_trunk_module(variant.net)
        taps = list(module.TAPS[:variant.taps] if variant.taps else module.TAPS)
        with open(os.path.join(run_dirs[name], "config.json")) as f:
            record = json.load(f)
        rows.append({
            "variant": name,
            "model": model_label(models[name], variant, sources),
            "brief": models[name].brief,
            "role": "brief" if models[name].brief else "reference",
            "net": variant.net,
            "distance": ("LPIPS (learned lin layers)" if variant.lpips else "cosine") +
                        " + judgment network G",
            "layers": len(taps),
            "taps": taps,
            "trunk_weights": (describe_trunk(variant.net, sources[variant.net])
                              if variant.pretrained else
                              f"random {_NET_TITLES[variant.net]} weights (untrained by design)"),
            "random_trunk": not variant.pretrained or sources[variant.net] is None,
            "2afc": results[name]["2afc"], "jnd": results[name]["jnd"], "ci": results[name]["ci"],
            "saved_epoch": record.get("saved_epoch"),
            "history": read_history(os.path.join(run_dirs[name], "history.csv")),
            "run_dir": run_dirs[name],
        })
    baselines = [{"variant": b, "model": f"{b.upper()} in Lab (baseline)",
                  "distance": b.upper(), "layers": None, "2afc": results[b]["2afc"],
                  "jnd": results[b]["jnd"], "ci": results[b]["ci"]}
                 for b in evaluation_baselines(results)]
    best = max(rows, key=lambda r: r["2afc"].get("mean", -1))["variant"] if rows else None

    random_nets = sorted({r["net"] for r in rows if r["random_trunk"] and r["variant"] !=
                          "vgg-rand-cos"})

    def caveats_for(claim):
        out = []
        nets = {training.get_variant(v).net for pair in claim.pairs for v in pair}
        for net in sorted(nets & set(random_nets)):
            out.append(f"Here the {_NET_TITLES[net]} trunk has random {_NET_TITLES[net]} weights, "
                       f"not pretrained ones, so this tests a random {_NET_TITLES[net]}, not the "
                       f"brief's pretrained one.")
        if synthetic:
            out.append("Synthetic data: simulated observers, not human judgments.")
        return out

    per_triplet = {r["variant"]: _per_triplet_scores(results, r["variant"]) for r in rows}
    claims = evaluate_claims(per_triplet, n_boot=config.n_boot, seed=config.seed,
                             caveats_for=caveats_for)
    info = results["_info"]
    return {
        "title": "The seed brief's comparison" + (" (SYNTHETIC DATA)" if synthetic else ""),
        "synthetic": synthetic,
        "warning": BANNER if synthetic else None,
        "data_dir": os.path.abspath(config.data_dir),
        "trunk_weights": {net: describe_trunk(net, sources[net]) for net in ("alex", "vgg")},
        "random_trunks": random_nets,
        "settings": {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in dataclasses.asdict(config).items()},
        "train_sets": list(next(iter(configs.values())).train_sets),
        "val_sets": list(next(iter(configs.values())).val_sets),
        "counts": info["counts"],
        "confidence": info["confidence"],
        "n_boot": info["n_boot"],
        "models": rows,
        "baselines": baselines,
        "observer_ceiling": {"observers": results["human"].get("observers"),
                             "2afc": results["human"]["2afc"], "ci": results["human"]["ci"]},
        "best_model": best,
        "claims": claims,
    }


def evaluation_baselines(results):
    from lpips_tf.evaluation.evaluate import BASELINES

    return [b for b in BASELINES if b in results]


# ------------------------------------------------------------------------------------------------
# Outputs.


def _cell(value, ci):
    if value is None:
        return "-"
    return f"{100 * value:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _marks(report, nets=None):
    """The title suffix every plot carries: synthetic data, random trunks (of `nets`, default
    all), on lines of their own so that it is not cut off."""
    marks = []
    if report["synthetic"]:
        marks.append(BANNER)
    for net in report["random_trunks"]:
        if nets is None or net in nets:
            marks.append(f"random {_NET_TITLES[net]} weights")
    return "\n" + textwrap.fill(f"({'; '.join(marks)})", 72) if marks else ""


def format_report_markdown(report):
    """report.md: the notes, the table in the brief's shape, the claims, the plots, the timing."""
    rows = report["models"] + report["baselines"]
    twoafc = [k for k in rows[0]["2afc"] if k != "mean"] if rows else []
    jnd = list(rows[0]["jnd"]) if rows else []
    header = (["model", "variant", "distance", "layers"] + [f"2AFC {k}" for k in twoafc] +
              ["2AFC mean"] + [f"JND {k} (mAP)" for k in jnd])
    lines = [f"# {report['title']}", ""]
    if report["synthetic"]:
        lines += [f"**{BANNER}.**", ""]
    lines += ["Trunk weights: " + "; ".join(f"{net}: {text}" for net, text in
                                             report["trunk_weights"].items()) + "." +
              ("".join(f" **The {_NET_TITLES[n]} models use random {_NET_TITLES[n]} weights, "
                       f"not pretrained ones.**" for n in report["random_trunks"])), ""]
    conf = int(round(100 * report["confidence"]))
    lines += [f"Scores x100 on {', '.join(report['val_sets'])} (2AFC) and the JND subsets, with "
              f"{conf}% bootstrap intervals ({report['n_boot']} resamples); 2AFC mean = unweighted "
              f"mean over subsets. Trained on {', '.join(report['train_sets'])}; the saved epoch "
              f"of each model is its best validation 2AFC (on these same val sets, as in BAPPS "
              f"where they are the test sets).", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["model"], r["variant"], r["distance"],
                 "-" if r["layers"] is None else f"{r['layers']} ({', '.join(r['taps'])})"]
        cells += [_cell(r["2afc"].get(k), r["ci"]["2afc"].get(k)) for k in twoafc + ["mean"]]
        cells += [_cell(r["jnd"].get(k), r["ci"]["jnd"].get(k)) for k in jnd]
        lines.append("| " + " | ".join(cells) + " |")
    ceiling = report["observer_ceiling"]
    if ceiling["2afc"]:
        name = ("human ceiling" if ceiling.get("observers", "human") == "human"
                else "observer ceiling (simulated)")
        cells = [name, "-", "-", "-"] + [_cell(ceiling["2afc"].get(k), ceiling["ci"]["2afc"].get(k))
                                         for k in twoafc + ["mean"]] + ["-"] * len(jnd)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Triplets / pairs per subset: "
              + ", ".join(f"{kind} {k}: {n}" for kind in report["counts"]
                          for k, n in report["counts"][kind].items()) + ".", ""]
    lines += ["## The brief's conclusions", "",
              f"Paired bootstrap over the same validation triplets ({conf}% interval of the "
              f"difference of 2AFC means, in points): above 0 supported, below 0 contradicted, "
              f"otherwise not resolved.", ""]
    lines += [f"- {c['text']}" for c in report["claims"]]
    best = report["best_model"]
    if best:
        lines += ["", "## Best model", "",
                  f"{best} has the highest 2AFC mean. Grafic 1 (accuracy): "
                  f"`accuracy_best_model.png`; Grafic 2 (loss): `loss_best_model.png`; "
                  f"validation 2AFC per epoch of every model: `val_2afc_curves.png`. "
                  f"The cosine models' distances have no weights, so their 2AFC curves are "
                  f"flat: only their judgment network trains."]
    timing = report.get("timing")
    if timing:
        lines += ["", f"Time: {timing['seconds_total']:.0f} s in all; per step (s): "
                  + ", ".join(f"{k} {v}" for k, v in timing["seconds_per_step"].items())
                  + (f"; reused finished runs: {', '.join(timing['skipped'])}"
                     if timing["skipped"] else "") + "."]
    return "\n".join(lines) + "\n"


def plot_report(report, report_dir, run_dirs):
    """The best model's accuracy and loss per epoch, and every model's validation 2AFC curve."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from lpips_tf.training.plots import plot_history

    paths = {}
    best = report["best_model"]
    rows = {r["variant"]: r for r in report["models"]}
    if best:
        marks = _marks(report, nets=[rows[best]["net"]] if rows[best]["random_trunk"] else [])
        # plot_history names its files accuracy.png / loss.png: draw in a scratch folder, move.
        scratch = os.path.join(report_dir, ".plots")
        os.makedirs(scratch, exist_ok=True)
        plot_history(rows[best]["history"], scratch, f"Best model: {best}{marks}",
                     marked_epoch=rows[best]["saved_epoch"])
        for kind, fname in (("accuracy", "accuracy_best_model.png"),
                            ("loss", "loss_best_model.png")):
            paths[kind] = os.path.join(report_dir, fname)
            os.replace(os.path.join(scratch, f"{kind}.png"), paths[kind])
        os.rmdir(scratch)
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=100)
    _plot_val_curves(ax, rows)
    ax.set_title(f"Validation 2AFC per epoch{_marks(report)}", fontsize=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation 2AFC score (%)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths["val_curves"] = os.path.join(report_dir, "val_2afc_curves.png")
    fig.savefig(paths["val_curves"])
    plt.close(fig)
    return paths


# Curves that coincide (the cosine models' are flat, and a random trunk's may equal another's) stay
# told apart: each model has its own hollow marker and line width, both larger the earlier it is
# plotted, so that a later curve shows inside an earlier one; the distance sets the line style.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _plot_val_curves(ax, rows):
    """Validation 2AFC per epoch of every model, on `ax`."""
    n = len(rows)
    for k, (name, row) in enumerate(rows.items()):
        history = row["history"]
        ax.plot([h["epoch"] for h in history],
                [100 * h.get("val_two_afc", float("nan")) for h in history],
                linestyle="--" if "cos" in name else "-", linewidth=1 + 1.2 * (n - 1 - k),
                marker=_MARKERS[k % len(_MARKERS)], markersize=11 - 1.2 * (k % len(_MARKERS)),
                markerfacecolor="none", markeredgewidth=1.3, label=name)
    ax.legend(fontsize=8, title="dashed: cosine, solid: LPIPS;\nequal curves lie on each other",
              title_fontsize=8)


def write_report(report, report_dir, run_dirs):
    """Writes report.md, report.json and the plots; returns their paths."""
    os.makedirs(report_dir, exist_ok=True)
    paths = plot_report(report, report_dir, run_dirs)
    paths["markdown"] = os.path.join(report_dir, "report.md")
    paths["json"] = os.path.join(report_dir, "report.json")
    with open(paths["markdown"], "w") as f:
        f.write(format_report_markdown(report))
    with open(paths["json"], "w") as f:
        json.dump({**report, "paths": paths}, f, indent=2, default=str)
    return paths
