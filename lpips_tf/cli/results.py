"""The rows of `dirs` and `all-pairs` results files, in the four `--format`s, and reading them back.

One row per pair: the image name(s), then the distance with 6 decimals.

- `text` (default), for people: `NAME: DISTANCE` (`dirs`) or `NAME0, NAME1: DISTANCE`
  (`all-pairs`, with a last line `mean over N pairs (...): MEAN`). A name is written as it is
  unless it could be misread: one holding `,` `:` `"` `\\`, a control or other unprintable
  character (a newline, a tab, bytes that are not UTF-8), leading or trailing spaces, or starting
  with "mean over", is written as a JSON string, in double quotes with JSON's escapes.
- `tsv`, `csv`: a header row (`image,distance` or `image0,image1,distance`), then one row per
  pair, quoted as Python's csv module quotes (fields holding the separator, a quote or a line
  break are double-quoted); `tsv` separates with tabs.
- `jsonl`: one JSON object per line, `{"image": ..., "distance": ...}` or
  `{"image0": ..., "image1": ..., "distance": ...}`, ASCII only.

The summary of `all-pairs` is a row of the text format only; the other formats hold the pairs
alone (the summary is printed on stdout). Names that are not valid UTF-8 are carried as Python
carries them (`surrogateescape`): csv and tsv write back the original bytes, text and jsonl an
escape. `read_results(path, format)` reads any of the four back.
"""

import csv
import json

__all__ = ["FORMATS", "SUMMARY_PREFIX", "ResultsWriter", "quote_name", "read_results"]

FORMATS = ("text", "tsv", "csv", "jsonl")
SUMMARY_PREFIX = "mean over "
_SEPARATORS = {"text": None, "tsv": "\t", "csv": ",", "jsonl": None}
_SPECIAL = frozenset(',:"\\')


def _columns(n_names):
    return ("image",) if n_names == 1 else tuple(f"image{k}" for k in range(n_names))


def quote_name(name):
    """`name` as the text format writes it: as is, or as a JSON string when it could be misread."""
    plain = (name and name.isprintable() and name == name.strip(" ")
             and not _SPECIAL.intersection(name) and not name.startswith(SUMMARY_PREFIX))
    if plain:
        return name
    has_surrogates = any("\ud800" <= c <= "\udfff" for c in name)
    return json.dumps(name, ensure_ascii=has_surrogates)


def _unquote_names(text, count, separator):
    """The `count` names at the start of a text-format line and the rest of the line."""
    names = []
    for k in range(count):
        if text.startswith('"'):
            name, end = json.JSONDecoder().raw_decode(text)
        else:
            stop = ":" if k == count - 1 else ","
            end = text.index(stop)
            name = text[:end]
        names.append(name)
        text = text[end:]
        expected = ": " if k == count - 1 else separator
        if not text.startswith(expected):
            raise ValueError(f"expected {expected!r} after the name {name!r}")
        text = text[len(expected):]
    return names, text


class ResultsWriter:
    """Writes result rows of `n_names` names and a distance to an open text file, in `fmt`."""

    def __init__(self, file, fmt, n_names):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}; received {fmt!r}.")
        self.file, self.format, self.n_names = file, fmt, n_names
        self._csv = None
        if _SEPARATORS[fmt]:
            self._csv = csv.writer(file, delimiter=_SEPARATORS[fmt], lineterminator="\n")
            self._csv.writerow(_columns(n_names) + ("distance",))

    def row(self, names, distance):
        """One pair: its image name(s) and its distance."""
        value = f"{distance:.6f}"
        if self._csv is not None:
            self._csv.writerow(list(names) + [value])
        elif self.format == "jsonl":
            record = dict(zip(_columns(self.n_names), names), distance=float(value))
            self.file.write(json.dumps(record) + "\n")
        else:
            self.file.write(", ".join(quote_name(n) for n in names) + f": {value}\n")

    def summary(self, line):
        """A closing line of the text format (`mean over ...`); left out of the other formats."""
        if self.format == "text":
            self.file.write(line + "\n")


def read_results(path, fmt="text", n_names=None):
    """The rows of a results file written in `fmt`: a list of (names tuple, distance).

    `n_names` (text only): 1 (`dirs`) or 2 (`all-pairs`); None: from the first row (2 when it
    reads as two names). tsv / csv take it from the header, jsonl from the keys. The text
    format's summary line is skipped.
    """
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        if _SEPARATORS.get(fmt):
            rows = list(csv.reader(f, delimiter=_SEPARATORS[fmt]))
            width = len(rows[0]) - 1 if rows else 0
            return [(tuple(r[:width]), float(r[width])) for r in rows[1:]]
        if fmt == "jsonl":
            records = [json.loads(line) for line in f if line.strip()]
            return [(tuple(v for k, v in r.items() if k != "distance"), float(r["distance"]))
                    for r in records]
        if fmt != "text":
            raise ValueError(f"format must be one of {', '.join(FORMATS)}; received {fmt!r}.")
        rows = []
        for line in f.read().split("\n"):
            if not line or line.startswith(SUMMARY_PREFIX):
                continue
            if n_names is None:
                try:  # Plain names hold no "," and quoted ones end at their quote.
                    _unquote_names(line, 2, ", ")
                    n_names = 2
                except ValueError:
                    n_names = 1
            names, rest = _unquote_names(line, n_names, ", ")
            rows.append((tuple(names), float(rest)))
        return rows
