"""The command line: `python -m lpips_tf` (or `lpips-tf`) and what the scripts share.

  main.py       `pair`, `dirs` and `all-pairs`
  batching.py   image pairs read from files in same-size batches
  progress.py   a progress bar with a rate on stderr
  outputs.py    output files and folders checked before the work that fills them
"""
