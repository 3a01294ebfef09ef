"""Download, unpack and verify the official BAPPS tarballs.

    python -m lpips_tf.data.download --out ./dataset --which 2afc_val,jnd

2afc_val + jnd are about 1.4 GB, 2afc_train about 5.2 GB; unpacking and
checking follow the download (how long they take: the README's "Data"). Rerunning resumes an
interrupted download (HTTP Range into `<name>.tar.gz.part`) and skips parts
already verified (a `.bapps_<part>.json` marker in the output folder).

Offline machines: fetch the tarballs elsewhere (URLs in `TARBALLS`), put them
in the output folder under their own names, and rerun; a complete tarball that
is already there is unpacked without any network access.

Unpacking refuses members that would land outside the output folder (absolute
paths, ".."), devices and pipes, and every link member (symbolic or hard): the
BAPPS tarballs hold none, and a relative link that is harmless where it is
unpacked can point above the output folder once the split folder is moved up. Whatever folder prefix the tarball
uses, its split folder ends up at `<out>/2afc/{train,val}` or `<out>/jnd/val`.
Verification indexes every expected subset with `lpips_tf.data.bapps`
(sub-folders, equal counts and stems, judgments in [0, 1], image headers and
trailers) and compares the counts with the published ones (reported to a
tenth of a thousand, so only a gross difference is an error).
"""

import json
import os
import shutil
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.request

from lpips_tf.cli import scripts
from lpips_tf.data import bapps

__all__ = ["BASE_URL", "DownloadError", "PARTS", "download", "fetch", "safe_extract", "verify"]

BASE_URL = "https://perceptual-similarity.s3.us-west-2.amazonaws.com/dataset/"


class DownloadError(OSError):
    """A tarball could not be fetched or unpacked (an OSError: the commands report it in one
    line, see `lpips_tf.cli.scripts`)."""

    def __str__(self):  # OSError's str() would prefix "[Errno None]" to a two-argument one
        return self.args[0] if self.args else ""


# part -> (tarball, kind, split, {subset: approximate published count}).
PARTS = {
    "2afc_train": (
        "twoafc_train.tar.gz", "2afc", "train",
        {"traditional": 56_600, "cnn": 38_100, "mix": 56_600},
    ),
    "2afc_val": (
        "twoafc_val.tar.gz", "2afc", "val",
        {"traditional": 4_700, "cnn": 4_700, "superres": 10_900, "deblur": 9_400,
         "color": 4_700, "frameinterp": 1_900},
    ),
    "jnd": ("jnd.tar.gz", "jnd", "val", {"traditional": 4_800, "cnn": 4_800}),
}
TARBALLS = {part: BASE_URL + spec[0] for part, spec in PARTS.items()}
_CHUNK = 1 << 20


def _progress(total):
    """A Keras progress bar when available, else a plain one on stderr."""
    try:
        import keras

        bar = keras.utils.Progbar(total, unit_name="byte")
        return lambda done: bar.update(done)
    except ImportError:  # pragma: no cover - keras is a dependency
        last = [0.0]

        def update(done):
            now = time.monotonic()
            if now - last[0] > 1 or done == total:
                last[0] = now
                print(f"\r{done / 1e6:.1f} / {(total or 0) / 1e6:.1f} MB", end="", file=sys.stderr)

        return update


def _offline_message(url, dest, reason):
    return (
        f"Could not download {url}: {reason}.\n"
        f"If this machine is offline, download that file on another machine and put it at\n"
        f"  {dest}\n"
        f"(a partial download can go to {dest}.part and will be resumed), then rerun this command;\n"
        f"a complete tarball already in place is unpacked without network access."
    )


def fetch(url, dest, progress=True, timeout=60):
    """Downloads `url` to `dest`, resuming from `dest + ".part"`.

    The `.part` file is renamed to `dest` only once the byte count matches
    the server's (when the server states it). A server that ignores Range
    (answers 200 to a ranged request) restarts the download from zero.

    Raises:
      DownloadError: when the server cannot be reached or the transfer fails,
        with instructions for a manual download.
    """
    if os.path.exists(dest):
        return dest
    part = dest + ".part"
    have = os.path.getsize(part) if os.path.exists(part) else 0
    response = _open_url(url, dest, have, timeout)
    if response is None:  # Range not satisfiable: the part file already holds everything.
        os.replace(part, dest)
        return dest
    with response:
        done, total = _receive(response, part, have, progress, url, dest)
    if total is not None and done != total:
        raise DownloadError(
            _offline_message(url, dest, f"received {done} of {total} bytes; rerun to resume")
        )
    os.replace(part, dest)
    return dest


def _open_url(url, dest, have, timeout):
    """The response to a GET of `url` from byte `have` on; None when the server says there is
    nothing left to send (HTTP 416 to a ranged request)."""
    headers = {"User-Agent": "lpips_tf"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            return None
        raise DownloadError(_offline_message(url, dest, f"HTTP {e.code} {e.reason}")) from e
    except (urllib.error.URLError, socket.timeout, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(_offline_message(url, dest, reason)) from e


def _receive(response, part, have, progress, url, dest):
    """Writes the response body to `part` (appended after `have` bytes when the server resumed);
    returns (bytes now in `part`, the expected total or None when the server does not say)."""
    status = getattr(response, "status", None) or response.getcode()
    length = response.headers.get("Content-Length")
    length = int(length) if length is not None else None
    if have and status == 206:
        mode, start = "ab", have
        total = have + length if length is not None else None
    else:
        # Fresh download, or a server / file:// URL that ignores Range.
        mode, start, total = "wb", 0, length
    update = _progress(total) if progress else None
    done = start
    try:
        with open(part, mode) as f:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                f.write(chunk)
                done += len(chunk)
                if update:
                    update(done)
    except (OSError, socket.timeout) as e:
        raise DownloadError(
            _offline_message(url, dest, f"transfer interrupted after {done} bytes ({e})")
        ) from e
    return done, total


def _check_member(member, root):
    name = member.name
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        return f"absolute path {name!r}"
    target = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([target, root]) != root:
        return f"path {name!r} leaves the output folder"
    if member.issym() or member.islnk():
        # Refused outright, not checked against the staging folder: the split folder is moved to
        # a shallower depth after unpacking, so a relative link that stays inside the staging
        # folder (a/b/c/val/x -> ../../../..) would point above the output folder afterwards.
        kind = "symbolic link" if member.issym() else "hard link"
        return (f"{kind} member {name!r} -> {member.linkname!r}; BAPPS archives hold only "
                f"regular files and folders")
    if member.isdev() or member.isfifo():
        return f"device or pipe {name!r}"
    if not (member.isfile() or member.isdir()):
        return f"member {name!r} of unsupported type {member.type!r}"
    return None


def _remove(path):
    """Removes a file, link or folder without ever following a link.

    `shutil.rmtree` refuses a link to a folder (and `os.path.isdir` follows links), so a link left
    by an earlier run is unlinked, never descended into.
    """
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def safe_extract(tar_path, out_dir):
    """Unpacks a tarball into `out_dir`, refusing members that would escape it.

    Raises:
      DownloadError: naming the tarball and the offending member, or when the
        tarball is damaged.
    """
    root = os.path.realpath(out_dir)
    os.makedirs(root, exist_ok=True)
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                problem = _check_member(member, root)
                if problem:
                    raise DownloadError(f"Refusing to unpack {tar_path}: {problem}.")
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(root, members=members, **kwargs)
    except DownloadError:  # an OSError too: not to be wrapped as a damaged file
        raise
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DownloadError(
            f"Cannot unpack {tar_path} ({e}). The file is damaged or incomplete: delete it and rerun."
        ) from e


def _find_split_dir(root, expected):
    """The folder under `root` holding the most of the `expected` subset folders."""
    best, best_hits = None, 0
    for folder, dirs, _ in os.walk(root):
        hits = len(set(dirs) & set(expected))
        if hits > best_hits:
            best, best_hits = folder, hits
        if folder[len(root):].count(os.sep) >= 4:
            dirs[:] = []
    return best


def verify(out_dir, part, check_images=True):
    """Checks an unpacked part; returns {subset: count}.

    Raises:
      bapps.DataError: for a missing subset, malformed data, or a count far
        (over 5%) from the published one.
    """
    _, kind, split, expected = PARTS[part]
    counts = {}
    for name, approx in expected.items():
        subset = f"{split}/{name}"
        if kind == "2afc":
            index = bapps.index_2afc(out_dir, [subset], check_images=check_images)
        else:
            index = bapps.index_jnd(out_dir, [subset], check_images=check_images)
        counts[subset] = len(index)
        if abs(len(index) - approx) > 0.05 * approx:
            raise bapps.DataError(
                f"{os.path.join(out_dir, kind, subset)} holds {len(index)} items; the published "
                f"count is about {approx}. The download or unpacking is incomplete."
            )
    return counts


def _marker(out_dir, part):
    return os.path.join(out_dir, f".bapps_{part}.json")


def download(out_dir, which=("2afc_train", "2afc_val", "jnd"), base_url=BASE_URL,
             keep_archive=False, progress=True, force=False, check_images=True):
    """Fetches, unpacks and verifies BAPPS parts into `out_dir`.

    Args:
      out_dir: dataset root; gets `2afc/` and `jnd/`.
      which: parts, from "2afc_train", "2afc_val", "jnd".
      base_url: where the tarballs live (tests use a local server).
      keep_archive: keep the tarball after a verified unpacking.
      progress: show a progress bar.
      force: redo parts that already have a verification marker.
      check_images: let verification check every image's bytes.

    Returns:
      {part: {subset: count}}.
    """
    if isinstance(which, str):
        which = [w for w in which.split(",") if w]
    unknown = [w for w in which if w not in PARTS]
    if unknown:
        raise ValueError(f"Unknown parts {unknown}; choose from {list(PARTS)}. Received: which={which!r}")
    os.makedirs(out_dir, exist_ok=True)
    results = {}
    for part in which:
        marker = _marker(out_dir, part)
        if os.path.exists(marker) and not force:
            with open(marker) as f:
                results[part] = json.load(f)["counts"]
            print(f"{part}: already downloaded and verified ({marker}).")
            continue
        results[part] = _download_part(out_dir, part, base_url, keep_archive, progress,
                                       check_images)
    return results


def _download_part(out_dir, part, base_url, keep_archive, progress, check_images):
    """Fetches, unpacks and verifies one part, then writes its marker; returns its counts."""
    tarball = PARTS[part][0]
    url = base_url.rstrip("/") + "/" + tarball
    archive = os.path.join(out_dir, tarball)
    print(f"{part}: fetching {url}")
    fetch(url, archive, progress=progress)
    target = _unpack_part(archive, out_dir, part)
    print(f"{part}: verifying {target}")
    counts = verify(out_dir, part, check_images=check_images)
    with open(_marker(out_dir, part), "w") as f:
        json.dump({"part": part, "url": url, "counts": counts, "time": time.time()}, f, indent=2)
    if not keep_archive:
        os.remove(archive)
    print(f"{part}: OK {counts}")
    return counts


def _unpack_part(archive, out_dir, part):
    """Unpacks `archive` in a staging folder and moves its split folder's subsets to
    `<out_dir>/<kind>/<split>`; returns that folder."""
    _, kind, split, expected = PARTS[part]
    staging = os.path.join(out_dir, f".unpack_{part}")
    _remove(staging)
    target = os.path.join(out_dir, kind, split)
    try:
        print(f"{part}: unpacking {archive}")
        safe_extract(archive, staging)
        found = _find_split_dir(staging, expected)
        if found is None:
            raise bapps.DataError(
                f"{archive} does not contain the expected {kind}/{split} subsets "
                f"{sorted(expected)}."
            )
        _move_subsets(found, target)
    finally:
        # Also on failure: a half-unpacked staging folder is only clutter (and may be large).
        _remove(staging)
    return target


def _move_subsets(found, target):
    """Moves every entry of `found` into `target`, replacing entries of the same name."""
    if os.path.islink(target):  # only an unsafe unpacking makes one: never write through it
        os.unlink(target)
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(target):  # links there can only come from an unsafe unpacking
        if os.path.islink(os.path.join(target, name)):
            os.unlink(os.path.join(target, name))
    for name in sorted(os.listdir(found)):
        src, dst = os.path.join(found, name), os.path.join(target, name)
        _remove(dst)
        shutil.move(src, dst)


def build_parser():
    parser = scripts.ArgumentParser(
        prog="python -m lpips_tf.data.download",
        description="Download, unpack and verify the official BAPPS dataset (6.6 GB in all).\n\n"
                    "Exit codes: 0 done, 2 bad usage or bad input, including a download that "
                    "fails (one line on stderr saying what to fetch by hand and where to put it).",
    )
    parser.add_argument("--out", required=True, help="dataset root (gets 2afc/ and jnd/)")
    parser.add_argument("--which", default="2afc_train,2afc_val,jnd",
                        help="comma-separated parts: 2afc_train, 2afc_val, jnd")
    parser.add_argument("--base_url", default=BASE_URL, help="where the tarballs are served")
    parser.add_argument("--keep_archive", action="store_true", help="keep the .tar.gz files")
    parser.add_argument("--force", action="store_true", help="redo verified parts")
    return parser


def _run(args):
    download(args.out, args.which, args.base_url, args.keep_archive, force=args.force)


main = scripts.Command(build_parser, _run)

if __name__ == "__main__":
    scripts.run_script(main)
