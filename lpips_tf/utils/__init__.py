"""Small helpers shared by the command line, training and evaluation; no TensorFlow or Keras.

  files.py      writing a file or folder whole or not at all (a temporary name, synced, renamed)
  progress.py   a progress bar with a rate: redrawn on a terminal, a line every few seconds in a log
"""
