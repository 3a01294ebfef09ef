"""A study's claims and the statistics that judge them.

A claim ("the LPIPS-distance models outperform the cosine ones") is a list of pairs (better,
worse) of models. Each pair is judged from a paired bootstrap interval (`paired_difference`): the
same validation triplets are resampled for both models (within each subset, as for the 2AFC
mean), and the interval of the difference of their 2AFC means decides (`verdict`): above 0
"supported", below 0 "contradicted", otherwise "not resolved". A claim holds when every pair
does (`judge_claim`).
"""

import dataclasses

import numpy as np

from lpips_tf.uses import bootstrap

CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Claim:
    """A conclusion of a study, as pairs (better, worse) of models: it holds when the first
    of each pair scores higher."""

    key: str
    statement: str
    pairs: tuple


def verdict(low, high):
    """"supported" when the interval of (better - worse) lies above 0, "contradicted" below 0,
    "not resolved" when it contains 0."""
    if low > 0:
        return "supported"
    if high < 0:
        return "contradicted"
    return "not resolved"


def paired_difference(scores_a, scores_b, n_boot=1000, confidence=CONFIDENCE, seed=0, *,
                      alpha=None):
    """Difference of two models' 2AFC means over the same triplets, with a paired bootstrap
    interval.

    Args:
      scores_a, scores_b: per subset, the per-triplet 2AFC scores of each model (lists of 1-D
        arrays over the same triplets in the same order).
      n_boot, confidence, seed: the bootstrap (`lpips_tf.uses.bootstrap`); `alpha` is deprecated.

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
    confidence = bootstrap.confidence_from_alpha(alpha, confidence, "paired_difference")
    return difference, bootstrap.bootstrap_interval_of_group_means(diffs, n_boot, confidence, seed)


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


def evaluate_claims(claims, per_triplet, n_boot=1000, seed=0, caveats_for=None):
    """Judges `claims` (`Claim`s) from per-triplet 2AFC scores.

    Args:
      claims: the study's claims.
      per_triplet: {model: [per-subset 1-D score arrays]} over the same triplets.
      caveats_for: function(claim) -> list of sentences to append (synthetic data, random
        trunks); None for none.

    Returns:
      A list of dicts: key, statement, verdict, pairs (better, worse, difference, ci, verdict),
      text.
    """
    out = []
    for claim in claims:
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
