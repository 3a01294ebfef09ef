"""The paper's training variants by name (`alex-lin`, `vgg-cos`, `alex-tune`, ...).

A `Variant` says which trunk, which of its taps the distance reads, whether there are lin layers,
where the trunk starts and whether it trains; `build_distance_model` turns one into the
`lpips_tf.LPIPS` that trains. The seed experiment's shallow models (`vgg2-cos`, `vgg2-lin`,
`alex4-cos`, `alex4-lin`: "VGG16 pretrained (2 convolutional layers)", "AlexNet pretrained (4
convolutional layers)") are the full-depth families with fewer taps. To add a variant
family, add a row to `_FAMILIES` (or an entry after the loop for a one-off like `vgg-rand-cos`);
an option of the distance model that variants carry goes into `Variant` and
`build_distance_model`.
"""

import dataclasses

from lpips_tf.core.model import LPIPS
from lpips_tf.core.presets import OFFICIAL_NETS
from lpips_tf.core.weights import describe_trunk_weights
from lpips_tf.training.config import ConfigError
from lpips_tf.core.trunks import get_trunk_module


@dataclasses.dataclass(frozen=True)
class Variant:
    """One of the paper's training set-ups.

    Attributes:
      name: e.g. "alex-lin".
      net: trunk, "alex", "vgg" or "squeeze".
      lpips: learned lin layers (False: the plain cosine distance, nothing to weight).
      pretrained: trunk starts from ImageNet weights (`trunk_weights`); False: random init.
      tune_trunk: the trunk's weights train too.
      text: one line for logs, `config.json` and `--help`, with "{weights}" where a pretrained
        trunk's weights are named (`describe`).
      taps: the trunk taps the distance reads, as `lpips_tf.LPIPS(taps=...)` takes them: None
        for all (the paper), an int k for the first k.
    """

    name: str
    net: str
    lpips: bool
    pretrained: bool
    tune_trunk: bool
    text: str
    taps: object = None

    def describe(self, trunk_weights="torchvision"):
        """The one-line description of a run with these trunk weights (ignored when the trunk
        is random by design), named by `lpips_tf.core.weights.describe_trunk_weights`."""
        source = trunk_weights if self.pretrained else None
        return self.text.format(weights=describe_trunk_weights(self.net, source))

    @property
    def description(self):
        """The description with the default trunk weights (torchvision's ImageNet ones)."""
        return self.describe()

    @property
    def trains_distance(self):
        """Whether training changes the distance at all (False for the cosine variants)."""
        return self.lpips or self.tune_trunk


    @property
    def cacheable(self):
        """Whether it can train on cached channel statistics: any frozen trunk (see
        `lpips_tf.training.cached_stats`). With lin layers the distance is the statistics times
        the lin weights; without (cosine) it is their plain sum, so only G trains."""
        return not self.tune_trunk


_COS_NOTE = ("The distance has no weights to train: training fits only the judgment network G "
             "(so the loss curve falls), and the 2AFC score, fixed by the distance, does not "
             "change with training.")
# One row per family, named `<net>-<suffix>`: (suffix, nets, lpips, pretrained, tune_trunk,
# description with `{title}` for the trunk's name and `{{weights}}` for its weights').
_FAMILIES = (
    ("lin", OFFICIAL_NETS, True, True, False,
     "{title} trunk ({{weights}}), frozen; lin layers trained from a random non-negative "
     "start with dropout (the paper's 'lin')."),
    ("cos", OFFICIAL_NETS, False, True, False,
     "{title} trunk ({{weights}}), frozen; the cos distance (sum over channels of squared "
     "differences of unit-normalised features), no lin layers. " + _COS_NOTE),
    ("tune", ("alex", "vgg"), True, True, True,
     "{title} trunk from {{weights}}, fine-tuned together with the lin layers "
     "(the paper's 'tune')."),
    ("scratch", ("alex", "vgg"), True, False, True,
     "{title} trunk from random initialisation, trained together with the lin layers "
     "(the paper's 'scratch')."),
)


# (net, taps) of the shallow variants `<net><k>-lin` / `<net><k>-cos`: the seed brief's "VGG16
# (2 convolutional layers)" and "AlexNet (4 convolutional layers)".
_SHALLOW = (("vgg", 2), ("alex", 4))


def _make_variants():
    variants = {}
    for suffix, nets, lpips, pretrained, tune_trunk, description in _FAMILIES:
        for net in nets:
            name = f"{net}-{suffix}"
            variants[name] = Variant(name, net, lpips, pretrained, tune_trunk,
                                     description.format(title=get_trunk_module(net).TITLE))
    variants["vgg-rand-cos"] = Variant(
        "vgg-rand-cos", "vgg", False, False, False,
        "Untrained VGG16 (random initialisation), the cos distance, no lin layers: the "
        "paper's 'random network'. " + _COS_NOTE)
    # The seed experiment's shallow models: the frozen-trunk families cut after k taps.
    for net, k in _SHALLOW:
        for suffix in ("lin", "cos"):
            full = variants[f"{net}-{suffix}"]
            name = f"{net}{k}-{suffix}"
            layers = ", ".join(get_trunk_module(net).TAPS[:k])
            variants[name] = dataclasses.replace(
                full, name=name, taps=k, text=f"First {k} taps ({layers}) of the {full.text}")
    return dict(sorted(variants.items()))


VARIANTS = _make_variants()


def _application_variant(name):
    """`<Net>-lin` / `<Net>-cos` for a keras.applications name ("ResNet50-lin"), else None:
    the frozen-trunk families on that backbone's default taps."""
    net, _, suffix = name.rpartition("-")
    from lpips_tf.core.trunks import applications

    if suffix not in ("lin", "cos") or not applications.is_application(net):
        return None
    row = next(r for r in _FAMILIES if r[0] == suffix)
    return Variant(name, net, row[2], row[3], row[4], row[5].format(title=net))


def get_variant(name):
    """The `Variant` called `name` (a listed one, or `<Net>-lin` / `<Net>-cos` for any
    keras.applications model), or a ValueError listing the known ones."""
    if name not in VARIANTS:
        variant = _application_variant(name)
        if variant is not None:
            return variant
        raise ConfigError(f"Unknown variant {name!r}. Known variants: {', '.join(VARIANTS)}, "
                          f"and <Net>-lin / <Net>-cos for a keras.applications model (e.g. "
                          f"ResNet50-lin). Received: variant={name!r}")
    return VARIANTS[name]


def build_distance_model(variant, trunk_weights="torchvision", dropout_rate=0.5, version="0.1",
                         taps=None):
    """The distance model a variant trains: an `lpips_tf.LPIPS` with fresh lin layers.

    Args:
      variant: a `Variant` or its name.
      trunk_weights: where the pretrained trunk comes from ("torchvision", "keras" for VGG, or a
        path); ignored for variants with a random trunk (`vgg-rand-cos`, `*-scratch`), which use
        Keras' default initialisers (seed them with `keras.utils.set_random_seed`).
      dropout_rate: dropout before each lin layer while training.
      version: LPIPS version ("0.1": ImageNet input scaling, as in the official training).
      taps: the taps to read (see `lpips_tf.LPIPS`); None: the variant's own (`variant.taps`).
    """
    variant = get_variant(variant) if isinstance(variant, str) else variant
    return LPIPS(
        net=variant.net, version=version, lpips=variant.lpips,
        trunk_weights=trunk_weights if variant.pretrained else None,
        lin_weights=None, dropout_rate=dropout_rate, trunk_trainable=variant.tune_trunk,
        taps=variant.taps if taps is None else taps)

