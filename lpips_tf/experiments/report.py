"""A study's report: `<out_dir>/report/` of `lpips_tf.experiments.runner.run_experiment`.

  report.md, report.json     the table (model, distance, layers, 2AFC per subset and mean, JND
                             mAP, 95% bootstrap intervals) and the claims with their verdicts
  accuracy_best_model.png,   2AFC and loss per epoch, train and validation, of the trained model
  loss_best_model.png        with the best 2AFC mean (the seed brief's "Grafic 1" and "Grafic 2")
  val_2afc_curves.png        validation 2AFC per epoch of every trained model
  evaluation/                evaluate.py's results.json, results.md and comparison.png

Every trunk's weights are named by `lpips_tf.core.weights.describe_trunk_weights`, the wording
of the run's log and of the evaluation's plot too.
"""

import dataclasses
import json
import os
import textwrap

from lpips_tf.core import presets
from lpips_tf.core.weights import describe_trunk_weights
from lpips_tf.data.synthetic import BANNER
from lpips_tf.evaluation import scoring
from lpips_tf.experiments.claims import evaluate_claims


def _title(net):
    from lpips_tf.core.trunks import get_trunk_module

    return get_trunk_module(net).TITLE


def model_label(spec, variant, sources):
    """The study's wording for a trained model (or a generated one), with "pretrained" replaced
    where the trunk is random although the variant starts from pretrained weights."""
    from lpips_tf.core.trunks import get_trunk_module

    title = _title(variant.net)
    if spec.label is None:
        n = len(get_trunk_module(variant.net).TAPS)
        layers = f"all {n} layers" if variant.taps is None else f"{variant.taps} of {n} layers"
        distance = ("LPIPS distance + small fully connected network" if variant.lpips else
                    "cosine distance")
        origin = "the paper's" if variant.net in presets.OFFICIAL_NETS else "variant"
        label = (f"{title} {'pretrained' if variant.pretrained else 'untrained network'} "
                 f"({layers}, {origin} {variant.name}) + {distance} [reference]")
    else:
        label = spec.label
    if variant.pretrained and sources[variant.net] is None:
        label = label.replace(f"{title} pretrained", f"{title} with random {title} weights "
                              f"(no pretrained weights given)")
    return label


def _scores(results, name):
    return {"2afc": results[name]["2afc"], "jnd": results[name]["jnd"],
            "ci": results[name]["ci"]}


def _trained_row(spec, run_dir, results, sources):
    from lpips_tf import training
    from lpips_tf.core.trunks import get_trunk_module, select_taps
    from lpips_tf.training.run_folder import read_history

    variant = training.get_variant(spec.variant)
    taps = list(select_taps(get_trunk_module(variant.net), variant.taps))
    with open(os.path.join(run_dir, "config.json")) as f:
        record = json.load(f)
    return {
        "variant": spec.variant, "model": model_label(spec, variant, sources),
        "brief": spec.label, "role": "brief" if spec.label else "reference", "net": variant.net,
        "distance": ("LPIPS (learned lin layers)" if variant.lpips else "cos") +
                    " + judgment network G",
        "layers": len(taps), "taps": taps,
        "trunk_weights": (describe_trunk_weights(variant.net, sources[variant.net])
                          if variant.pretrained else
                          f"{describe_trunk_weights(variant.net, None)} (untrained by design)"),
        "random_trunk": not variant.pretrained or sources[variant.net] is None,
        **_scores(results, spec.variant),
        "saved_epoch": record.get("saved_epoch"),
        "history": read_history(os.path.join(run_dir, "history.csv")),
        "run_dir": run_dir,
    }


def _preset_row(spec, results, sources):
    """A preset evaluated as it is: no training, so no history and no judgment network."""
    from lpips_tf.core import presets
    from lpips_tf.core.trunks import get_trunk_module, select_taps

    parsed = presets.parse_spec(spec.preset)
    net = parsed.preset.net
    taps = list(select_taps(get_trunk_module(net), parsed.overrides.get("taps")))
    return {
        "variant": spec.preset, "model": f"{spec.label or parsed.preset.description} [preset]",
        "brief": spec.label, "role": "preset", "net": net,
        "distance": "LPIPS (the preset's lin layers)" if parsed.preset.distance == "lin" else "cos",
        "layers": len(taps), "taps": taps,
        "trunk_weights": describe_trunk_weights(net, sources[net]),
        "random_trunk": sources[net] is None, **_scores(results, spec.preset),
        "saved_epoch": None, "history": [], "run_dir": None,
    }


def _random_nets(plan):
    """Nets whose models should start from pretrained weights but have random ones."""
    from lpips_tf.training.variants import get_variant

    return sorted({m.net for m in plan.models if plan.sources[m.net] is None and
                   (m.preset is not None or get_variant(m.variant).pretrained)})


def _claims(plan, rows, results, synthetic, random_nets):
    """The study's claims, judged on the per-triplet scores, with their caveats."""
    nets = {m.name: m.net for m in plan.study.models + plan.models}

    def caveats_for(claim):
        out = []
        used = {nets.get(v) for pair in claim.pairs for v in pair}
        for net in sorted(used & set(random_nets)):
            t = _title(net)
            out.append(f"Here the {t} trunk has random {t} weights, not pretrained ones, so "
                       f"this tests a random {t}, not {plan.study.source}'s pretrained one.")
        if synthetic:
            out.append("Synthetic data: simulated observers, not human judgments.")
        return out

    per_triplet = {r["variant"]: _per_triplet_scores(results, r["variant"]) for r in rows}
    return evaluate_claims(plan.study.claims, per_triplet, n_boot=plan.config.n_boot,
                           seed=plan.config.seed, caveats_for=caveats_for)


def _per_triplet_scores(results, variant):
    """Per subset, the per-triplet 2AFC scores of `variant` (from evaluate's details)."""
    out = []
    for key, detail in results["_details"]["2afc"].items():
        d = detail[variant]
        out.append(scoring.score_2afc(d["d0"], d["d1"], detail["judge"])[1]["scores"])
    return out


def build_report(plan, run_dirs, results, synthetic):
    """The report dict: rows per model and baseline, the best trained model, the claims."""
    from lpips_tf.evaluation.evaluate import BASELINES

    rows = [_trained_row(m, run_dirs[m.variant], results, plan.sources) if m.variant else
            _preset_row(m, results, plan.sources) for m in plan.models]
    baselines = [{"variant": b, "model": f"{b.upper()} in Lab (baseline)", "distance": b.upper(),
                  "layers": None, **_scores(results, b)} for b in BASELINES if b in results]
    trained = [r for r in rows if r["history"]]
    best = max(trained, key=lambda r: r["2afc"].get("mean", -1))["variant"] if trained else None
    random_nets = _random_nets(plan)
    info = results["_info"]
    return {
        "title": plan.study.title + (" (SYNTHETIC DATA)" if synthetic else ""),
        "synthetic": synthetic,
        "warning": BANNER if synthetic else None,
        "data_dir": os.path.abspath(plan.config.data_dir),
        "trunk_weights": {net: describe_trunk_weights(net, s) for net, s in plan.sources.items()},
        "random_trunks": random_nets,
        "settings": {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in dataclasses.asdict(plan.config).items()},
        "train_sets": list(plan.train_sets),
        "val_sets": list(plan.val_sets),
        "counts": info["counts"],
        "confidence": info["confidence"],
        "n_boot": info["n_boot"],
        "models": rows,
        "baselines": baselines,
        "observer_ceiling": {"observers": results["human"].get("observers"),
                             "2afc": results["human"]["2afc"], "ci": results["human"]["ci"]},
        "best_model": best,
        "claims": _claims(plan, rows, results, synthetic, random_nets),
    }


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
            marks.append(describe_trunk_weights(net, None))
    return "\n" + textwrap.fill(f"({'; '.join(marks)})", 72) if marks else ""


def _table(report):
    """The table's lines: one row per model and baseline, then the observers' ceiling."""
    rows = report["models"] + report["baselines"]
    twoafc = [k for k in rows[0]["2afc"] if k != "mean"] if rows else []
    jnd = list(rows[0]["jnd"]) if rows else []
    header = (["model", "variant", "distance", "layers"] + [f"2AFC {k}" for k in twoafc] +
              ["2AFC mean"] + [f"JND {k} (mAP)" for k in jnd])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
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
    return lines


def _notes(report):
    """The lines above the table: data and trunk weights, what the scores are."""
    lines = [f"**{BANNER}.**", ""] if report["synthetic"] else []
    lines += ["Trunk weights: " + "; ".join(f"{net}: {text}" for net, text in
                                             report["trunk_weights"].items()) + "." +
              "".join(f" **The {_title(n)} models use random {_title(n)} weights, not pretrained "
                      f"ones.**" for n in report["random_trunks"]), ""]
    conf = int(round(100 * report["confidence"]))
    lines += [f"Scores x100 on {', '.join(report['val_sets'])} (2AFC) and the JND subsets, with "
              f"{conf}% bootstrap intervals ({report['n_boot']} resamples); 2AFC mean = unweighted "
              f"mean over subsets. Trained on {', '.join(report['train_sets'])}; the saved epoch "
              f"of each model is its best validation 2AFC (on these same val sets, as in BAPPS "
              f"where they are the test sets).", ""]
    return lines


def format_report_markdown(report, study):
    """report.md: the notes, the table, the claims, the plots, the timing."""
    conf = int(round(100 * report["confidence"]))
    lines = [f"# {report['title']}", ""] + _notes(report) + _table(report)
    lines += ["", "Triplets / pairs per subset: "
              + ", ".join(f"{kind} {k}: {n}" for kind in report["counts"]
                          for k, n in report["counts"][kind].items()) + ".", ""]
    if report["claims"]:
        lines += [f"## {study.claims_heading}", "",
                  f"Paired bootstrap over the same validation triplets ({conf}% interval of the "
                  f"difference of 2AFC means, in points): above 0 supported, below 0 "
                  f"contradicted, otherwise not resolved.", ""]
        lines += [f"- {c['text']}" for c in report["claims"]]
    best = report["best_model"]
    if best:
        accuracy, loss = study.figure_names
        lines += ["", "## Best model", "",
                  f"{best} has the highest 2AFC mean. {accuracy}: `accuracy_best_model.png`; "
                  f"{loss}: `loss_best_model.png`; validation 2AFC per epoch of every model: "
                  f"`val_2afc_curves.png`. The cos models' distances have no weights, so their "
                  f"2AFC curves are flat: only their judgment network trains."]
    timing = report.get("timing")
    if timing:
        lines += ["", f"Time: {timing['seconds_total']:.0f} s in all; per step (s): "
                  + ", ".join(f"{k} {v}" for k, v in timing["seconds_per_step"].items())
                  + (f"; reused finished runs: {', '.join(timing['skipped'])}"
                     if timing["skipped"] else "") + "."]
    return "\n".join(lines) + "\n"


def _plot_best(report, report_dir, rows):
    """The best model's accuracy and loss per epoch, as accuracy_best_model.png and
    loss_best_model.png; returns their paths."""
    from lpips_tf.training.plots import plot_history

    best = report["best_model"]
    marks = _marks(report, nets=[rows[best]["net"]] if rows[best]["random_trunk"] else [])
    # plot_history names its files accuracy.png / loss.png: draw in a scratch folder, move.
    scratch = os.path.join(report_dir, ".plots")
    os.makedirs(scratch, exist_ok=True)
    plot_history(rows[best]["history"], scratch, f"Best model: {best}{marks}",
                 marked_epoch=rows[best]["saved_epoch"])
    paths = {}
    for kind, fname in (("accuracy", "accuracy_best_model.png"), ("loss", "loss_best_model.png")):
        paths[kind] = os.path.join(report_dir, fname)
        os.replace(os.path.join(scratch, f"{kind}.png"), paths[kind])
    os.rmdir(scratch)
    return paths


# Curves that coincide (the cos models' are flat, and a random trunk's may equal another's) stay
# told apart: each model has its own hollow marker and line width, both larger the earlier it is
# plotted, so that a later curve shows inside an earlier one; the distance sets the line style.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _plot_val_curves(ax, rows):
    """Validation 2AFC per epoch (1-based, as history.csv counts) of every model, on `ax`."""
    n = len(rows)
    for k, (name, row) in enumerate(rows.items()):
        history = row["history"]
        ax.plot([h["epoch"] for h in history],
                [100 * h.get("val_two_afc", float("nan")) for h in history],
                linestyle="--" if row["distance"].startswith("cos") else "-",
                linewidth=1 + 1.2 * (n - 1 - k),
                marker=_MARKERS[k % len(_MARKERS)], markersize=11 - 1.2 * (k % len(_MARKERS)),
                markerfacecolor="none", markeredgewidth=1.3, label=name)
    if rows:
        ax.legend(fontsize=8, title="dashed: cos, solid: lin;\nequal curves lie on each other",
                  title_fontsize=8)


def plot_report(report, report_dir):
    """The best model's accuracy and loss per epoch, and every trained model's validation 2AFC
    curve."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = {r["variant"]: r for r in report["models"] if r["history"]}
    paths = _plot_best(report, report_dir, rows) if report["best_model"] else {}
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


def write_report(report, report_dir, study):
    """Writes report.md, report.json and the plots; returns their paths."""
    os.makedirs(report_dir, exist_ok=True)
    paths = plot_report(report, report_dir)
    paths["markdown"] = os.path.join(report_dir, "report.md")
    paths["json"] = os.path.join(report_dir, "report.json")
    with open(paths["markdown"], "w") as f:
        f.write(format_report_markdown(report, study))
    with open(paths["json"], "w") as f:
        json.dump({**report, "paths": paths}, f, indent=2, default=str)
    return paths
