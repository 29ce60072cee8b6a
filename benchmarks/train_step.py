"""Training throughput (images/s) of the matting and segmentation nets, and their size and GFLOPs.

    python benchmarks/train_step.py [--size 320] [--batch 8] [--steps 10] [--threads 2] [--bn frozen|trainable]

Measured on random data (the data pipeline is never the bottleneck, DESIGN.md section 5), in the training
recipe's configuration: the backbone's BatchNorm frozen (`freeze_backbone_bn`, the paper's recipe and every
config in training/configs); `--bn trainable` measures every BatchNorm in training mode. Do not run it
beside a training run: two threads only help when the other core is idle.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from alphanet_tf.backbones import freeze_backbone_batchnorm  # noqa: E402
from alphanet_tf.losses import FocalDiceLoss, MattingLoss  # noqa: E402
from alphanet_tf.models import MattingNet, SegmentationNet  # noqa: E402


def gflops(model, inputs):
    """Forward FLOPs (multiply-adds x 2) from TensorFlow's graph profiler, in GFLOPs."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec(x.shape, tf.float32) for x in inputs]
    concrete = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0])).get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, options=options)
    return info.total_float_ops / 1e9


def throughput(model, inputs, target, loss, steps):
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss, jit_compile=False)
    model.train_on_batch(inputs, target)  # trace + warm up
    model.train_on_batch(inputs, target)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(inputs, target)
    return steps * target.shape[0] / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["matting", "segmentation"], default=None)
    parser.add_argument("--bn", choices=["frozen", "trainable"], default="frozen",
                        help="backbone BatchNorm as the training recipe has it (frozen) or in training mode")
    args = parser.parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    rng = np.random.default_rng(0)
    b, s = args.batch, args.size
    image = rng.uniform(0, 255, (b, s, s, 3)).astype("float32")
    nets = {
        "matting": lambda: (MattingNet(weights=None), [image, rng.choice([0, 0.5, 1], (b, s, s, 1)).astype("float32")],
                            rng.uniform(0, 1, (b, s, s, 7)).astype("float32"), MattingLoss()),
        "segmentation": lambda: (SegmentationNet(weights=None), [image],
                                 (rng.uniform(0, 1, (b, s, s, 1)) > 0.5).astype("float32"), FocalDiceLoss()),
    }
    print(f"threads={args.threads} batch={b} size={s}x{s} steps={args.steps} backbone_bn={args.bn}")
    for name, make in nets.items():
        if args.only and name != args.only:
            continue
        model, inputs, target, loss = make()
        if args.bn == "frozen":
            freeze_backbone_batchnorm(model)
        flops = gflops(model, [x[:1, :512, :512] if s >= 512 else np.zeros((1, 512, 512, x.shape[-1]), "float32")
                               for x in inputs])
        ips = throughput(model, inputs if len(inputs) > 1 else inputs[0], target, loss, args.steps)
        print(f"{name:13s} params={model.count_params() / 1e6:.2f}M  GFLOPs@512={flops:.2f}  "
              f"train={ips:.2f} img/s")


if __name__ == "__main__":
    main()
