"""SavedModel export for TF Serving."""

import keras

from lpips_tf.core.backend import require_tensorflow


def export_saved_model(model, filepath, verbose=False):
    """Writes `model` (an LPIPS distance model) as a SavedModel for TF Serving.

    The `serving_default` signature takes `image0` and `image1`, float32 (N, H, W, 3) in the
    model's input range ([-1, 1] unless it was built with normalize=True), any N, H and W, and
    returns `distance`: (N,) or, for a spatial model, (N, H, W, 1). Dropout is off.

    Args:
      model: a Keras model called as `model([image0, image1])`.
      filepath: output folder.
      verbose: print the signature summary Keras writes.
    """
    tf = require_tensorflow("SavedModel export")
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)

    @tf.function(input_signature=[spec, spec])
    def serve(image0, image1):
        # Serving does not enforce the signature's channel count, and the model would broadcast
        # a 1-channel input against its 3-channel scaling: check explicitly, with a clear message.
        checks = [tf.debugging.assert_equal(tf.shape(x)[-1], 3, message=(
            f"{name} must be RGB: (N, H, W, 3) float32; the last axis has another size"))
            for name, x in (("image0", image0), ("image1", image1))]
        with tf.control_dependencies(checks):
            return {"distance": model([image0, image1], training=False)}

    archive.add_endpoint("serving_default", serve)
    archive.write_out(filepath, verbose=verbose)
    return filepath
