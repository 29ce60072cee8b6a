"""`alphanet train segmentation|matting|end2end|hattmatting --config CONFIG --out DIR` (also `python -m training`)."""

import argparse
import os
import sys

EXAMPLES = """examples:
  alphanet train segmentation --config training/configs/segmentation.yaml --out runs/segmentation
  alphanet train matting --config training/configs/matting.yaml --out runs/matting
  alphanet train end2end --config training/configs/end2end.yaml --out runs/end2end
  alphanet train hattmatting --config training/configs/hattmatting.yaml --out runs/hattmatting
Re-running the same command after a kill resumes from runs/<name>/backup.
"""


def build_parser():
    parser = argparse.ArgumentParser(prog="alphanet train", description="Train one AlphaNet stage.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["segmentation", "matting", "end2end", "hattmatting"])
    parser.add_argument("--config", help="YAML config (defaults: the paper's recipe scaled to this machine)")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, logs, backup for resuming")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--steps-per-epoch", type=int, dest="steps_per_epoch")
    parser.add_argument("--batch-size", type=int, dest="batch_size")
    parser.add_argument("--size", type=int, help="training crop side")
    parser.add_argument("--threads", type=int, help="TensorFlow threads (default: all cores)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from training.config import load_config

    overrides = {k: getattr(args, k) for k in ("epochs", "steps_per_epoch", "batch_size", "size")}
    try:
        config = load_config(args.stage, args.config, overrides)
    except (FileNotFoundError, ValueError) as error:
        print(f"alphanet train: {error}", file=sys.stderr)
        return 2
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from training.train import run

    run(config, args.out, verbose=1 if sys.stdout.isatty() else 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
