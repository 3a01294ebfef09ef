"""The seed brief's comparison in one command: `python experiment.py --help`, README "The seed
experiment".

The flags and what they do: lpips_tf/cli/experiment.py; the study: lpips_tf/experiments/.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads (lpips_tf/_startup.py)

from lpips_tf.cli import scripts  # noqa: E402
from lpips_tf.cli.experiment import main  # noqa: E402

if __name__ == "__main__":
    scripts.run_script(main)
