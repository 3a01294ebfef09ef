"""Studies built from training and evaluation runs: a generic runner and studies as configuration.

  runner.py     a study end to end: plan and check, train its models, evaluate, report, resume
  claims.py     claims over pairs of models and the paired bootstrap that judges them
  report.py     the report folder: report.md / .json and its plots
  seed.py       the seed brief's comparison, as a `Study`
"""
