"""Converts the official LPIPS lin-layer weights to the .npz files lpips_tf ships.

Run from the repository root (no torch needed; takes about a second plus the
download):

    /work/venv/bin/python tools/convert_lin_weights.py

It runs `pip download --no-deps lpips==0.1.4` into a temporary folder (or uses
`--wheel PATH` for a wheel you already have), reads the six
`lpips/weights/v0.{0,1}/{alex,vgg,squeeze}.pth` files out of the wheel with
`lpips_tf.core.pth` (the torch-free reader), checks that each holds exactly
`lin0.model.1.weight` .. `lin{L-1}.model.1.weight` with shapes (1, C, 1, 1) for
the trunk's channel counts and no negative entries, and writes

    lpips_tf/core/lin_weights/v0.{0,1}/{alex,vgg,squeeze}.npz   arrays lin0..lin{L-1}, (C,) float32
    lpips_tf/core/lin_weights/LICENSE                          the LPIPS BSD-2-Clause licence

The .npz files are written byte-for-byte reproducibly (fixed zip timestamps),
so rerunning it on the same wheel leaves git clean.
"""

import argparse
import io
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "lpips_tf", "core", "lin_weights")
WHEEL_REQUIREMENT = "lpips==0.1.4"

CHANNELS = {
    "alex": (64, 192, 384, 256, 256),
    "vgg": (64, 128, 256, 512, 512),
    "squeeze": (64, 128, 256, 384, 384, 512, 512),
}
VERSIONS = ("0.0", "0.1")

LICENSE_HEADER = """\
The arrays in this folder (v0.0/*.npz, v0.1/*.npz) are the linear-layer weights
of the official LPIPS metric, converted from the files lpips/weights/v0.*/*.pth
of the `lpips` 0.1.4 wheel on PyPI by tools/convert_lin_weights.py.
They are covered by the licence of the LPIPS package, reproduced below.

"""


def _load_pth_module():
    """lpips_tf's own `.pth` reader (NumPy only), from this checkout."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from lpips_tf.core import pth

    return pth


def _download_wheel(folder):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", folder,
         WHEEL_REQUIREMENT],
        check=True,
    )
    wheels = [f for f in os.listdir(folder) if f.endswith(".whl")]
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {folder}, found {wheels}")
    return os.path.join(folder, wheels[0])


def _save_npz(path, arrays):
    """np.savez, but with fixed timestamps so the bytes are reproducible."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, buf.getvalue())


def convert(wheel_path, out_dir=OUT_DIR):
    pth = _load_pth_module()
    with zipfile.ZipFile(wheel_path) as wheel:
        names = set(wheel.namelist())
        license_name = next(
            (n for n in names if n.endswith(".dist-info/LICENSE")), None)
        if license_name is None:
            raise SystemExit(f"{wheel_path}: no .dist-info/LICENSE record")
        license_text = wheel.read(license_name).decode("utf-8")
        if "Richard Zhang" not in license_text or "Redistribution and use" not in license_text:
            raise SystemExit(f"{wheel_path}: {license_name} is not the expected BSD-2-Clause text")
        for version in VERSIONS:
            for net, channels in CHANNELS.items():
                member = f"lpips/weights/v{version}/{net}.pth"
                if member not in names:
                    raise SystemExit(f"{wheel_path}: missing {member}")
                source = f"{wheel_path}!{member}"
                state = pth.load_state_dict(io.BytesIO(wheel.read(member)))
                expected = {f"lin{i}.model.1.weight": (1, c, 1, 1)
                            for i, c in enumerate(channels)}
                state = pth.check_state_dict(state, expected, source=source)
                arrays = {}
                for i, (key, value) in enumerate(state.items()):
                    if value.dtype != np.float32:
                        raise SystemExit(f"{source}: {key} is {value.dtype}, expected float32")
                    if (value < 0).any():
                        raise SystemExit(f"{source}: {key} has negative entries")
                    arrays[f"lin{i}"] = value.reshape(-1)
                out = os.path.join(out_dir, f"v{version}", f"{net}.npz")
                _save_npz(out, arrays)
                print(f"{member} -> {os.path.relpath(out, ROOT)}: "
                      + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))
    with open(os.path.join(out_dir, "LICENSE"), "w", encoding="utf-8") as f:
        f.write(LICENSE_HEADER + license_text.rstrip("\n") + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", help="path to lpips-0.1.4-py3-none-any.whl "
                        "(default: pip download it into a temporary folder)")
    parser.add_argument("--out_dir", default=OUT_DIR, help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.wheel:
        convert(args.wheel, args.out_dir)
    else:
        with tempfile.TemporaryDirectory() as folder:
            convert(_download_wheel(folder), args.out_dir)


if __name__ == "__main__":
    main()
