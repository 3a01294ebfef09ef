"""The seed brief's comparison, as a study over the generic runner (`lpips_tf.experiments.runner`).

    python experiment.py --data_dir ./dataset --out_dir outputs/seed_experiment

The brief (../shared/seed) compares five models, "VGG16 pretrained (2 convolutional layers) +
cosine distance", "... + LPIPS distance + small fully connected network", the same two for
"AlexNet pretrained (4 convolutional layers)", and "VGG16 untrained network + cosine distance",
shows accuracy and loss per epoch for the best one, and concludes:
  (a) the LPIPS-distance models outperform the cosine ones;
  (b) VGG beats AlexNet with the LPIPS distance;
  (c) AlexNet beats VGG with the cosine distance.

Its models are train.py's variants `vgg2-cos`, `vgg2-lin`, `alex4-cos`, `alex4-lin` and
`vgg-rand-cos`, with the paper's full-depth `alex-lin` and `vgg-lin` for reference; every one has
a frozen trunk, so all train on cached channel statistics (the lin variants learn a vector over
them, the cos ones fit only the judgment network on their plain sum). The trunks are
torchvision's ImageNet ones unless the run says otherwise (`--trunk_weights`); the data is the
run's (`--data_dir`, every 2AFC train / val subset in it by default). Each claim is judged from
paired bootstrap intervals (`lpips_tf.experiments.claims`).
"""

from lpips_tf.experiments import runner
from lpips_tf.experiments.claims import Claim
from lpips_tf.experiments.runner import ExperimentConfig, ModelSpec, Study

__all__ = ["CLAIMS", "ExperimentConfig", "MODELS", "MODEL_NAMES", "STUDY", "run_experiment"]

MODELS = (
    ModelSpec("vgg2-cos", label="VGG16 pretrained (2 convolutional layers) + cosine distance"),
    ModelSpec("vgg2-lin", label="VGG16 pretrained (2 convolutional layers) + LPIPS distance + "
              "small fully connected network"),
    ModelSpec("alex4-cos", label="AlexNet pretrained (4 convolutional layers) + cosine distance"),
    ModelSpec("alex4-lin", label="AlexNet pretrained (4 convolutional layers) + LPIPS distance + "
              "small fully connected network"),
    ModelSpec("vgg-rand-cos", label="VGG16 untrained network + cosine distance"),
    ModelSpec("alex-lin"),
    ModelSpec("vgg-lin"),
)
MODEL_NAMES = tuple(m.name for m in MODELS)

CLAIMS = (
    Claim("a", "The models using the LPIPS distance outperform the ones using the cosine "
          "distance", (("vgg2-lin", "vgg2-cos"), ("alex4-lin", "alex4-cos"))),
    Claim("b", "VGG outperforms AlexNet when using the LPIPS distance",
          (("vgg2-lin", "alex4-lin"),)),
    Claim("c", "AlexNet outperforms VGG when using the cosine distance",
          (("alex4-cos", "vgg2-cos"),)),
)

STUDY = Study(
    name="seed",
    title="The seed brief's comparison",
    models=MODELS,
    claims=CLAIMS,
    # Per net, the deepest model first, so that the shallower ones read the first columns of
    # its cached statistics instead of running their own trunk pass (see
    # `lpips_tf.training.cached_stats`), and a cos model after the lin model of the same taps,
    # whose statistics it shares.
    train_order=("alex-lin", "alex4-lin", "alex4-cos", "vgg-lin", "vgg2-lin", "vgg2-cos",
                 "vgg-rand-cos"),
    trunk_weights="torchvision",
    claims_heading="The brief's conclusions",
    figure_names=("Grafic 1 (accuracy)", "Grafic 2 (loss)"),
    source="the brief",
)


def run_experiment(config, log=print):
    """Runs the seed study with `config` (an `ExperimentConfig`); returns the report dict."""
    return runner.run_experiment(STUDY, config, log)
