"""Score LPIPS variants and baselines on BAPPS 2AFC / JND: `python evaluate.py --help`, README
"Evaluation".

The flags and what they do: lpips_tf/cli/evaluate.py; the evaluation: lpips_tf/evaluation/.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads (lpips_tf/_startup.py)

from lpips_tf.cli import scripts  # noqa: E402
from lpips_tf.cli.evaluate import main  # noqa: E402

if __name__ == "__main__":
    scripts.run_script(main)
