"""Example TF Serving client: matte photos through a running tensorflow_model_server, write alpha PNGs.

    python serving/client.py photo.jpg [more.jpg ...] --out out/ [--rest http://localhost:8501] [--grpc localhost:8500]

Uses `alphanet_tf.serving` (REST over urllib, or gRPC). See serving/README.md for starting the server.
"""

import argparse
import sys
from pathlib import Path

from alphanet_tf.imageio import write_png_atomic
from alphanet_tf.serving import predict_grpc, predict_rest, rest_url


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--out", default="out")
    ap.add_argument("--rest", default="http://localhost:8501", help="REST base URL (default)")
    ap.add_argument("--grpc", help="host:port: use gRPC instead of REST")
    args = ap.parse_args(argv)
    if args.grpc:
        alphas = predict_grpc(args.grpc, args.images)
    else:
        host, _, port = args.rest.split("//")[-1].partition(":")
        alphas = predict_rest(rest_url(host, int(port or 8501)), args.images)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for path, alpha in zip(args.images, alphas):
        write_png_atomic(Path(args.out) / f"{Path(path).stem}.png", alpha)
        print(f"{path} -> {args.out}/{Path(path).stem}.png {alpha.shape[1]}x{alpha.shape[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
