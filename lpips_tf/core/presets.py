"""Presets: LPIPS configurations by name, as KerasHub names its models.

    lpips_tf.LPIPS.presets                        # {name: one-line description}
    model = lpips_tf.LPIPS.from_preset("vgg-cos")  # the cos distance on VGG16
    model = lpips_tf.LPIPS.from_preset("alex", trunk_weights="alexnet.pth", spatial=True)

A preset is a name, a description and the `LPIPS` arguments it stands for; `from_preset` builds
`LPIPS(**arguments)` with the caller's overrides on top. The official variants are registered
here:

  <net>           alex, vgg, squeeze: the official LPIPS v0.1, the authors' learned lin layers
  <net>-cos       the cos distance: the paper's cosine distance between unit-normalised features
                  (the sum over channels of their squared differences), no lin layers
  <net>-v0.0      the first release (unscaled trunk input), with its own lin layers
  <net>-cos-v0.0  the cos distance with v0.0's input

all on torchvision's ImageNet trunks (downloaded once; `trunk_weights=` overrides), and ST-LPIPS
(Ghildyal and Liu, ECCV 2022), the shift-tolerant metric, with its authors' trunk and lin weights
(one checkpoint per net, downloaded once; `trunk_weights=` and `lin_weights=` may both name it):

  stlpips-alex, stlpips-vgg            ST-LPIPS on the shift-tolerant AlexNet / VGG16
  stlpips-alex-cos, stlpips-vgg-cos    the cos distance on those trunks, no lin layers

Other
spellings that older versions took are aliases of these: `alex-lin`, `alex-v0.1`, `alex-0.0`,
and, deprecated with a one-line note on stderr, `alex-base` / `alex-baseline` for `alex-cos`.

Every command names models the same way, through `parse_spec`: a preset name, optionally with
settings after a colon, "alex-cos:taps=4" (the first 4 taps) or "alex:taps=conv1+conv3".

Every `keras.applications` backbone has a cos preset too, registered when first named:
`<Net>-cos` ("ResNet50-cos", "MobileNetV3Small-cos"), on Keras' ImageNet weights (there are no
official lin layers for them; train `<Net>-lin` with train.py).

More presets plug in with one `register_preset` call each. A preset may name its own sources:
`trunk_weights` and `lin_weights` are paths, the keywords `LPIPS` takes, or functions returning
one, called when the preset is built (a download, say).
"""

import collections.abc
import dataclasses
import sys
import types

from lpips_tf.core.trunks import get_trunk_module
from lpips_tf.core.weights import VERSIONS

# The two distances: learned lin layers, or the cosine distance without them.
DISTANCES = ("lin", "cos")
# The nets of the paper's variants (official lin weights, v0.1 and v0.0).
OFFICIAL_NETS = ("alex", "vgg", "squeeze")
# Arguments of a preset that may be functions returning the value (called at build time).
SOURCES = ("trunk_weights", "lin_weights")
# Settings a specification may add after the name: "alex:taps=4".
SPEC_SETTINGS = ("taps",)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A registered configuration: `name`, `description` (one line) and `config`, the `LPIPS`
    arguments (a read-only mapping; values of `SOURCES` may be functions returning the value)."""

    name: str
    description: str
    config: types.MappingProxyType

    @property
    def net(self):
        return self.config["net"]

    @property
    def version(self):
        return self.config.get("version", "0.1")

    @property
    def distance(self):
        """ "lin" (learned lin layers) or "cos" (the cosine distance)."""
        return "lin" if self.config.get("lpips", True) else "cos"


class PresetSpec(collections.namedtuple("PresetSpec", ["preset", "overrides", "text"])):
    """A parsed specification: its `Preset`, the `overrides` its settings give (e.g. {"taps": 4})
    and `text`, the specification spelled with the preset's own name ("alex-cos:taps=4")."""


_PRESETS = {}
_ALIASES = {}  # other spelling -> (preset name, deprecated)
_NOTED = set()  # deprecated spellings already noted in this process


def register_preset(name, description, *, aliases=(), deprecated_aliases=(), **config):
    """Adds a preset; `config` holds its `LPIPS` arguments (`net` at least). Returns the `Preset`.

    `aliases` are other accepted spellings; `deprecated_aliases` too, with a one-line note on
    stderr the first time each is used. Names hold no ":" or "," (specifications and lists use
    them) and are unique among presets and aliases.
    """
    if "net" not in config:
        raise ValueError(f"Preset {name!r} needs a net. Received: {config}")
    for spelling in (name, *aliases, *deprecated_aliases):
        if not spelling or ":" in spelling or "," in spelling:
            raise ValueError(f"A preset name is a non-empty word without ':' or ','. Received: "
                             f"{spelling!r}")
        if spelling in _PRESETS or spelling in _ALIASES:
            raise ValueError(f"Preset name {spelling!r} is already registered.")
    preset = Preset(name, description, types.MappingProxyType(dict(config)))
    _PRESETS[name] = preset
    _ALIASES.update({a: (name, False) for a in aliases})
    _ALIASES.update({a: (name, True) for a in deprecated_aliases})
    return preset


def preset_names():
    """The registered presets' names, in registration order."""
    return tuple(_PRESETS)


def _application_preset(name):
    """Registers `<Net>-cos` for a keras.applications name on first use; None for other names."""
    net, _, distance = name.rpartition("-")
    if distance != "cos" or not net:
        return None
    from lpips_tf.core.trunks import applications

    if not applications.is_application(net):
        return None
    return register_preset(
        name, f"{net} (keras.applications), cos: the cosine distance between unit-normalised "
              f"features at its default taps, no lin layers",
        net=net, lpips=False, trunk_weights="imagenet", lin_weights=None)


def get_preset(name):
    """The `Preset` called `name` (or one of its aliases); a ValueError lists the presets."""
    if name in _PRESETS:
        return _PRESETS[name]
    if name not in _ALIASES and _application_preset(name) is not None:
        return _PRESETS[name]
    if name in _ALIASES:
        target, deprecated = _ALIASES[name]
        if deprecated and name not in _NOTED:
            _NOTED.add(name)
            print(f"note: {name!r} is a deprecated name; use {target!r}.", file=sys.stderr)
        return _PRESETS[target]
    raise ValueError(f"Unknown preset {name!r}. Presets: {', '.join(_PRESETS)}, and "
                     f"<Net>-cos for a keras.applications model (e.g. ResNet50-cos) (with "
                     f"':taps=K' for the first K taps).")


class PresetTable(collections.abc.Mapping):
    """name -> description of every registered preset, read when used (so presets registered
    after the class was defined are listed too): `LPIPS.presets`."""

    def __getitem__(self, name):
        return _PRESETS[name].description

    def __iter__(self):
        return iter(_PRESETS)

    def __len__(self):
        return len(_PRESETS)

    def __repr__(self):
        return repr(dict(self))


def _setting(spec, item):
    key, sep, value = item.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or key not in SPEC_SETTINGS or not value:
        raise ValueError(f"{spec!r}: expected a preset name, optionally followed by ':taps=K' (the "
                         f"first K taps) or ':taps=conv1+conv3' (taps by name). Received the "
                         f"setting {item!r}")
    # "+" joins tap names: commas already separate the models of a list.
    return key, int(value) if value.isdigit() else tuple(value.split("+"))


def parse_spec(spec):
    """A model specification -> `PresetSpec`: "alex", "vgg-cos-v0.0", "alex-cos:taps=4"."""
    name, *items = [part.strip() for part in spec.split(":")]
    preset = get_preset(name)
    overrides = dict(_setting(spec, item) for item in items)
    return PresetSpec(preset, overrides, ":".join([preset.name, *items]))


def preset_config(spec, **overrides):
    """The `LPIPS` arguments of a preset or specification, with `overrides` on top and source
    functions called."""
    parsed = parse_spec(spec)
    config = {**parsed.preset.config, **parsed.overrides, **overrides}
    for key in SOURCES:
        if callable(config.get(key)):
            config[key] = config[key]()
    return config


def variant_of(name, distance=None, version=None):
    """The preset that differs from `name` only in its distance ("lin" / "cos") and / or version,
    e.g. ("alex", "cos", "0.0") -> "alex-cos-v0.0": the command line's --cos and --version."""
    preset = get_preset(name)
    distance = distance or preset.distance
    version = version or preset.version
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}. Received: {distance!r}")
    same = lambda p: {k: v for k, v in p.config.items() if k not in ("lpips", "version",
                                                                    "lin_weights")}
    for other in _PRESETS.values():
        if (same(other) == same(preset) and other.distance == distance
                and other.version == version):
            return other.name
    raise ValueError(f"No preset is {preset.name!r} with the {distance} distance and version "
                     f"{version}. Presets: {', '.join(_PRESETS)}.")


# ------------------------------------------------------------------------------------------------
# The official variants.


def official_name(net, distance="lin", version="0.1"):
    """The preset name of an official variant: ("alex", "cos", "0.0") -> "alex-cos-v0.0"."""
    return net + ("-cos" if distance == "cos" else "") + ("-v0.0" if version == "0.0" else "")


def _official_description(net, distance, version):
    title = get_trunk_module(net).TITLE
    if distance == "lin" and version == "0.1":
        return (f"{title}, LPIPS v0.1 with the authors' learned lin layers"
                + (" (the official default)" if net == "alex" else ""))
    if distance == "lin":
        return (f"{title}, LPIPS v0.0 (the first release: unscaled trunk input) with its learned "
                f"lin layers")
    return (f"{title}, cos: the cosine distance between unit-normalised features, no lin layers"
            + (" (v0.0's unscaled trunk input)" if version == "0.0" else ""))


def _register_official():
    for net in OFFICIAL_NETS:
        for version in VERSIONS:
            for distance in DISTANCES:
                tails = ("-v0.1", "-0.1", "") if version == "0.1" else ("-v0.0", "-0.0")
                kinds = ("-lin", "") if distance == "lin" else ("-cos",)
                old = () if distance == "lin" else ("-base", "-baseline")
                name = official_name(net, distance, version)
                spell = lambda mids: [net + m + t for m in mids for t in tails]
                register_preset(
                    name, _official_description(net, distance, version),
                    aliases=[s for s in spell(kinds) if s != name],
                    deprecated_aliases=spell(old),
                    net=net, version=version, lpips=distance == "lin",
                    trunk_weights="torchvision",
                    lin_weights="official" if distance == "lin" else None)


_register_official()


def _register_stlpips():
    for net, name in (("st-alex", "stlpips-alex"), ("st-vgg", "stlpips-vgg")):
        title = get_trunk_module(net).TITLE
        # "torchvision" and "official" are, for these trunks, the ST-LPIPS authors' checkpoint
        # (lpips_tf.core.weights.fetch_stlpips_weights).
        register_preset(
            name, f"ST-LPIPS (shift-tolerant) on {title}, the authors' trunk and lin weights",
            net=net, version="0.1", lpips=True, trunk_weights="torchvision",
            lin_weights="official")
        register_preset(
            name + "-cos", f"{title} with the ST-LPIPS authors' weights, cos: the cosine distance "
                           f"between unit-normalised features, no lin layers",
            net=net, version="0.1", lpips=False, trunk_weights="torchvision", lin_weights=None)


_register_stlpips()
