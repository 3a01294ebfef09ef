"""`python -m lpips_tf ...`: see lpips_tf/cli/main.py."""

from lpips_tf.cli.main import program  # lpips_tf/__init__.py has quietened TensorFlow's start-up

program()
