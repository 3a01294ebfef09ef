"""Studies built from training and evaluation runs.

  runner.py     the seed brief's comparison: train its models, evaluate them, write one report
"""
