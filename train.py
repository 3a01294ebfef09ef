"""Train an LPIPS variant on BAPPS 2AFC judgments: `python train.py --help`, README "Training".

The flags and what they do: lpips_tf/cli/train.py; the training: lpips_tf/training/.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads (lpips_tf/_startup.py)

from lpips_tf.cli import scripts  # noqa: E402
from lpips_tf.cli.train import main  # noqa: E402

if __name__ == "__main__":
    scripts.run_script(main)
