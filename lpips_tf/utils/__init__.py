"""Small helpers shared by the command line, training and evaluation; no TensorFlow or Keras.

  progress.py   a progress bar with a rate: redrawn on a terminal, a line every few seconds in a log
"""
