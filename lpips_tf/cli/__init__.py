"""The command line: `python -m lpips_tf` (or `lpips-tf`), the scripts' parsers, what they share.

  scripts.py     how every command runs: the parser, the exit codes, one line per expected error
  main.py        `pair`, `dirs` and `all-pairs`
  train.py       train.py's flags (built from `TrainConfig`'s defaults) and what it runs
  evaluate.py    evaluate.py's flags and what it runs
  experiment.py  experiment.py's flags and what it runs
  batching.py    image pairs read from files in same-size batches
  outputs.py     output files and folders checked before the work that fills them

The root scripts (train.py, evaluate.py, experiment.py) are these modules' `main`, run by
`scripts.run_script`; `python -m lpips_tf.data.synthetic` / `.download` keep theirs next to the
code they run.
"""
