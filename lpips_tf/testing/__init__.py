"""Helpers for tests and benchmarks.

  random_weights.py  seeded random trunk weights in torchvision's layout (NumPy only)
"""
