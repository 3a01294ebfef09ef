"""A study end to end: train its models, evaluate them, write one report, resume where it stopped.

A study (`Study`) is configuration: its models (`ModelSpec`: a train.py variant to train, or a
preset to evaluate as it is), the order they train in, its claims (`lpips_tf.experiments.claims`)
and the wording of its report; `lpips_tf.experiments.seed` is the seed brief's. The settings of one
run of it (data, trunk weights, training) are an `ExperimentConfig`. `run_experiment`:

  1. checks what it can before training anything: the data folder, the models asked for, the
     trunk-weights specification for every net the models use, every model's training settings;
  2. trains each variant in `<out_dir>/runs/<variant>/` through `lpips_tf.training.train`, on
     cached channel statistics when its trunk is frozen (one trunk pass per triplet, then epochs
     over vectors). A finished run folder with the same settings is skipped, an interrupted one
     resumes after its last epoch (train.py's own resume);
  3. scores every model with the L2 and SSIM baselines (`lpips_tf.evaluation.evaluate`: this runs
     again on every call, it takes minutes);
  4. writes `<out_dir>/report/` (`lpips_tf.experiments.report`).

Synthetic data (`lpips_tf.data.synthetic`) and random trunk weights are stated on every output.
"""

import dataclasses
import json
import os
import time

from lpips_tf.core import presets
from lpips_tf.core.weights import (TRUNK_WEIGHTS_KEYWORDS, check_trunk_source,
                                   describe_trunk_weights, ensure_trunk_weights,
                                   load_trunk_state_dict, parse_trunk_weights_per_net)
from lpips_tf.data import bapps
from lpips_tf.data.synthetic import BANNER, is_synthetic
from lpips_tf.training.config import DEFAULTS as TRAIN_DEFAULTS


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model of a study: `variant`, a train.py variant that is trained (and names its run
    folder), or `preset`, a preset specification (`LPIPS.presets`, "alex", "vgg-cos:taps=2")
    evaluated as it is. `label` is the study's wording for it; None: a generated one."""

    variant: object = None
    preset: object = None
    label: object = None

    def __post_init__(self):
        if (self.variant is None) == (self.preset is None):
            raise ValueError(f"A ModelSpec names a variant or a preset, not both or neither. "
                             f"Received: variant={self.variant!r}, preset={self.preset!r}")

    @property
    def name(self):
        return self.variant or self.preset

    @property
    def net(self):
        if self.preset is not None:
            return presets.parse_spec(self.preset).preset.net
        from lpips_tf.training.variants import get_variant

        return get_variant(self.variant).net


@dataclasses.dataclass(frozen=True)
class Study:
    """A comparison as configuration.

    Attributes:
      name: short name; the default output folder is `outputs/<name>_experiment`.
      title: the report's title.
      models: `ModelSpec`s, in the report's order.
      claims: `Claim`s over the models' names.
      train_order: names trained first, in this order (the others follow in `models` order):
        per net the deepest model first lets the shallower ones reuse its cached statistics.
      trunk_weights: the default trunk-weights specification.
      claims_heading, figure_names: the report's heading of the claims and its names of the
        best model's accuracy and loss plots.
      source: who the claims are from, in the report's caveats ("the brief").
    """

    name: str
    title: str
    models: tuple
    claims: tuple = ()
    train_order: tuple = ()
    trunk_weights: str = "torchvision"
    claims_heading: str = "Claims"
    figure_names: tuple = ("Accuracy", "Loss")
    source: str = "the study"

    @property
    def model_names(self):
        return tuple(m.name for m in self.models)


@dataclasses.dataclass
class ExperimentConfig:
    """Settings of one run of a study; the training settings go to every model's `TrainConfig`.

    `out_dir` None: `outputs/<study name>_experiment`. `trunk_weights` None: the study's; else a
    specification as every command takes it ("torchvision", "random", a path, or per net
    "alex=PATH,vgg=random", `lpips_tf.core.weights.parse_trunk_weights_per_net`). `models` None:
    all the study's; else names among them, and presets to evaluate untrained next to them.
    `train_sets` / `val_sets` None: every 2AFC train / val subset present in `data_dir` (for
    BAPPS, train.py's defaults). `eval_sets`: evaluate's --sets. The training settings default
    to `TrainConfig`'s.
    """

    data_dir: str
    out_dir: object = None
    trunk_weights: object = None
    models: object = None
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


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run does, checked: `config` with its defaults filled in, the `models` (specs, study
    order, then the presets asked for), `sources` (net -> `LPIPS(trunk_weights=...)` value for
    every net of the study and of those presets) and the 2AFC `train_sets` / `val_sets`."""

    study: Study
    config: ExperimentConfig
    models: tuple
    sources: dict
    train_sets: tuple
    val_sets: tuple

    @property
    def trained(self):
        return tuple(m for m in self.models if m.variant is not None)


def _selected_models(study, names):
    """The `ModelSpec`s of `names`: the study's own, and presets for the others."""
    from lpips_tf.training import ConfigError

    own = {m.name: m for m in study.models}
    selected, unknown = [], []
    for name in names:
        if name in own:
            selected.append(own[name])
            continue
        try:
            selected.append(ModelSpec(preset=presets.parse_spec(name).text))
        except ValueError:
            from lpips_tf.training.variants import get_variant

            try:  # a variant to train besides the study's own: "ResNet50-lin"
                selected.append(ModelSpec(variant=get_variant(name).name))
            except ValueError:
                unknown.append(name)
    if unknown or not selected:
        raise ConfigError(f"models must be among {', '.join(study.model_names)}, presets to "
                          f"evaluate untrained ({', '.join(presets.preset_names())}, optionally "
                          f"with :taps=K), or <Net>-lin / <Net>-cos variants of keras.applications "
                          f"models to train. Received: {list(names)}")
    return tuple(selected)


def _trunk_sources(spec, models, all_models):
    """net -> trunk source for the nets of `all_models`, every one that a model of `models`
    starts from checked and fetched now (a missing file, "keras" for a net without Keras weights,
    an offline download), so that nothing trains before a bad specification is refused."""
    from lpips_tf.training.variants import get_variant

    nets = sorted({m.net for m in all_models})
    sources = parse_trunk_weights_per_net(spec, nets)
    needed = sorted({m.net for m in models
                     if m.preset is not None or get_variant(m.variant).pretrained})
    # Every net's source is checked before any is fetched: a bad specification is refused
    # with its own message, not with the download error of another net.
    for net in needed:
        check_trunk_source(net, sources[net], spec)
    for net in needed:
        ensure_trunk_weights(net, sources[net], spec)
    # A file that exists is read now too: a garbled one is refused before the first model trains,
    # not when the study reaches its net.
    for net in needed:
        if sources[net] not in TRUNK_WEIGHTS_KEYWORDS.values():
            load_trunk_state_dict(net, sources[net])
    return sources


def _subsets(data_dir, split, given):
    if given:
        return tuple(given)
    return tuple(bapps.find_subsets(data_dir, "2afc", split))


def plan_experiment(study, config):
    """The checked `Plan` of running `study` with `config`; raises before anything is written."""
    config = dataclasses.replace(
        config, out_dir=config.out_dir or f"outputs/{study.name}_experiment",
        trunk_weights=study.trunk_weights if config.trunk_weights is None else
        config.trunk_weights,
        models=tuple(config.models or study.model_names))
    models = _selected_models(study, config.models)
    sources = _trunk_sources(config.trunk_weights, models, study.models + models)
    return Plan(study, config, models, sources, _subsets(config.data_dir, "train",
                                                         config.train_sets),
                _subsets(config.data_dir, "val", config.val_sets))


def train_configs(plan):
    """{variant: TrainConfig} of the plan's trained models."""
    from lpips_tf import training

    config, out = plan.config, {}
    for spec in plan.trained:
        variant = training.get_variant(spec.variant)
        out[spec.variant] = training.TrainConfig(
            data_dir=config.data_dir, variant=spec.variant, train_sets=plan.train_sets,
            val_sets=plan.val_sets,
            # Random-trunk variants (vgg-rand-cos) ignore it; they draw from the seed.
            trunk_weights=plan.sources[variant.net] if variant.pretrained else None,
            epochs=config.epochs, epochs_decay=config.epochs_decay, batch_size=config.batch_size,
            lr=config.lr, load_size=config.load_size, out_dir=os.path.join(config.out_dir, "runs"),
            seed=config.seed, steps_per_epoch=config.steps_per_epoch,
            save_judgment_model=config.save_judgment_model, verbose=config.verbose,
            # A frozen trunk: one trunk pass, then epochs over vectors.
            cached_stats=variant.cacheable)
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


def _log_plan(plan, states, synthetic, log):
    from lpips_tf.core.trunks import get_trunk_module
    if synthetic:
        log(BANNER + ".")
    for net, source in plan.sources.items():
        log(f"{get_trunk_module(net).TITLE} trunk: {describe_trunk_weights(net, source)}.")
    steps = [f"{n} ({'done, skipped' if s == 'finished' else s})" for n, s in states.items()]
    steps += [f"{m.name} (preset, evaluated as it is)" for m in plan.models if m.preset]
    log("Plan: " + ", ".join(steps))


def _train(plan, configs, states, log):
    """Trains the models not finished yet, in the study's order; returns their seconds."""
    from lpips_tf import training

    first = [n for n in plan.study.train_order if n in configs]
    timings = {}
    for name in first + [n for n in configs if n not in first]:
        if states[name] == "finished":
            continue
        model_start = time.time()
        log(f"=== {name}: {'resuming' if states[name] == 'interrupted' else 'training'} ===")
        training.train(configs[name], log=lambda line, n=name: log(f"[{n}] {line}"))
        timings[name] = round(time.time() - model_start, 1)
    return timings


def _evaluate(plan, run_dirs, log):
    """evaluate's results for every model (trained folders and presets) and the baselines."""
    from lpips_tf.evaluation import evaluate as evaluation

    log("=== evaluation ===")
    specs = [run_dirs[m.name] if m.variant else m.preset for m in plan.models]
    variants = evaluation.resolve_variants(specs, trunk_weights=plan.sources, baselines=True)
    config = plan.config
    return evaluation.evaluate(config.data_dir, variants, sets=config.eval_sets,
                               load_size=config.load_size, batch_size=config.batch_size,
                               n_boot=config.n_boot, seed=config.seed, progress=True)


def run_experiment(study, config, log=print):
    """Trains (or reuses) every model of `study`, evaluates them and writes the report.

    Returns:
      The report dict (what report.json holds) with "paths" of the written files.
    """
    from lpips_tf import training
    from lpips_tf.evaluation import evaluate as evaluation
    from lpips_tf.experiments import report as reports

    start = time.time()
    training.check_data_dir(config.data_dir)
    plan = plan_experiment(study, config)
    configs = train_configs(plan)
    for train_config in configs.values():
        training.check_config(train_config)
    states = {name: run_state(c) for name, c in configs.items()}
    synthetic = is_synthetic(config.data_dir)
    _log_plan(plan, states, synthetic, log)
    timings = _train(plan, configs, states, log)

    eval_start = time.time()
    run_dirs = {name: os.path.join(c.out_dir, name) for name, c in configs.items()}
    results = _evaluate(plan, run_dirs, log)
    report_dir = os.path.join(plan.config.out_dir, "report")
    eval_paths = evaluation.write_outputs(results, os.path.join(report_dir, "evaluation"))
    timings["evaluation"] = round(time.time() - eval_start, 1)

    report = reports.build_report(plan, run_dirs, results, synthetic)
    report["timing"] = {"seconds_total": round(time.time() - start, 1),
                        "seconds_per_step": timings,
                        "skipped": [n for n, s in states.items() if s == "finished"]}
    report["paths"] = reports.write_report(report, report_dir, study)
    report["paths"]["evaluation"] = eval_paths
    log(reports.format_report_markdown(report, study))
    log(f"Report: {report['paths']['markdown']} ({report['timing']['seconds_total']:.0f} s).")
    return report
