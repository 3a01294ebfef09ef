"""Scoring perceptual metrics on BAPPS-layout data.

  scoring.py    2AFC and JND scores, the L2 and SSIM baselines (NumPy)
  evaluate.py   metrics by name or run folder scored on 2AFC / JND sets; the library behind
                evaluate.py
"""
