"""TensorFlow's start-up lines that ignore `TF_CPP_MIN_LOG_LEVEL`, dropped while the backend loads.

With `TF_CPP_MIN_LOG_LEVEL` at 1 or more (the commands set 2), TensorFlow 2.21 still prints, twice
(once per native library it loads), absl's "WARNING: All log messages before absl::InitializeLog()
is called are written to STDERR" and an INFO line saying that oneDNN custom operations are on; at
0 it adds the INFO lines of `cpu_feature_guard`. `TF_ENABLE_ONEDNN_OPTS=0` would silence them but
changes which kernels run (numbers and speed), so instead file descriptor 2 goes to a temporary
file while Keras imports its backend, and everything written there is copied back to stderr except
those known INFO lines and absl's notice that precedes them. Warnings, errors and any other line
are kept, in order; with `TF_CPP_MIN_LOG_LEVEL` unset or 0 nothing is filtered.
"""

import contextlib
import os
import re
import sys
import tempfile

_NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written "
               r"to STDERR$"),
    # INFO (the leading "I") only: a warning or error from the same files is kept.
    re.compile(r"^I\d{4} [\d:.]+\s+\d+ port\.cc:\d+\] oneDNN custom operations are on\."),
    re.compile(r"^I\d{4} [\d:.]+\s+\d+ cpu_feature_guard\.cc:\d+\] This TensorFlow binary is "
               r"optimized"),
    re.compile(r"^To enable the following instructions: .* in other operations, rebuild "
               r"TensorFlow with the appropriate compiler flags\.$"),
)


def is_startup_noise(line):
    """Whether `line` (without its newline) is one of TensorFlow's start-up lines above."""
    return any(pattern.match(line) for pattern in _NOISE)


def _wanted():
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip()
    return level not in ("", "0") and "tensorflow" not in sys.modules


@contextlib.contextmanager
def dropped_startup_noise():
    """Within this block, lines written to file descriptor 2 reach stderr at its end, without
    TensorFlow's start-up noise. Does nothing where fd 2 cannot be redirected."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True)
                    if not is_startup_noise(line.rstrip("\r\n"))]
            if kept:
                os.write(2, "".join(kept).encode("utf-8", "replace"))


def import_backend_quietly():
    """Imports Keras (and with it its backend) with the start-up noise dropped, when
    `TF_CPP_MIN_LOG_LEVEL` asks for INFO lines to be hidden and TensorFlow is not loaded yet."""
    if not _wanted():
        return
    with dropped_startup_noise():
        import keras  # noqa: F401
