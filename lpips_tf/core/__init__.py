"""The metric: LPIPS and what it is made of, in `keras` / `keras.ops` on every backend.

  model.py      `LPIPS`, the distance model (`model([x0, x1])`), and its tap features and
                per-tap steps, which every use of the metric shares
  presets.py    the official variants by name (`LPIPS.presets`, `LPIPS.from_preset("vgg-cos")`)
  layers.py     the small layers it is built from (scaling, channel normalisation, lin, ...)
  inputs.py     input checks and conversion: shapes, dtypes, value ranges, with clear errors
  compiled.py   the fast path: the plain call as one compiled function per backend
  backend.py    the few places where the Keras backend matters
  trunks/       AlexNet, VGG16 and SqueezeNet, layer by layer, with their taps
  weights.py    where trunk and lin weights come from (download cache, shipped lin weights),
                the --trunk_weights grammar every command shares, how trunk weights are named
  pth.py        a safe reader of PyTorch `.pth` state dicts, without torch
  lin_weights/  the official calibrated lin layers, converted to `.npz`
"""
