"""`python -m lpips_tf ...`: see lpips_tf/cli/main.py."""

import sys

from lpips_tf.cli.main import main  # lpips_tf/__init__.py has quietened TensorFlow's start-up logs

sys.exit(main())
