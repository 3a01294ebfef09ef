"""`python -m lpips_tf ...`: see lpips_tf/cli.py."""

import os
import sys

# TensorFlow's start-up INFO lines (oneDNN, CPU features) would bury the one number we print.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lpips_tf.cli import main  # noqa: E402

sys.exit(main())
