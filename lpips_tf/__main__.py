"""`python -m lpips_tf ...`: see lpips_tf/cli.py."""

import sys

from lpips_tf.cli import main

sys.exit(main())
