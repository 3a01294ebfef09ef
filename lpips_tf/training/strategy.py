"""Distribution: the `tf.distribute` strategy by name, and which worker this process is.

Under a multi-worker strategy every worker runs the whole of `train`; only the chief writes the
run folder (see `lpips_tf.training.run_folder.RunFolder.for_worker`).
"""

import tensorflow as tf

from lpips_tf.training.config import STRATEGIES


def make_strategy(name):
    """A `tf.distribute.Strategy` by name.

    "default": the default (no-op) strategy, one device. "mirrored": synchronous data parallelism
    over all local GPUs, or over all logical CPU devices when there is no GPU. "multi_worker":
    `MultiWorkerMirroredStrategy` configured from the `TF_CONFIG` environment variable (a single
    worker without it); create it before any other TensorFlow work in the process.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {STRATEGIES}. Received: strategy={name!r}")


def worker_role(strategy):
    """(is_chief, worker tag) for the running process under a multi-worker strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, None
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    spec = resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in spec)
    return chief, f"{task_type}_{task_id}"

