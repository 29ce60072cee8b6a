"""Forward cost (GFLOPs, weight count) of one call, per engine, counted from the graph that actually ran.

FLOPs = 2 x multiply-adds of convolutions and matrix products (the rest is memory traffic, not arithmetic),
so ``gflops / latency`` compares with the machine's matmul peak (DESIGN.md section 5).

* ONNX: onnxruntime's node profile of one run records every node's input and output shapes.
* TFLite: the op list (reference kernels, so XNNPACK does not hide the graph) with static tensor shapes.
* Keras: TensorFlow's graph profiler, the same function as ``benchmarks/train_step.py``.

Weights are counted from the convolution / dense kernels and biases met on the way (ONNX, TFLite), which is
within a fraction of a percent of the true parameter count for these nets.
"""

from __future__ import annotations

import json
from math import prod
from pathlib import Path

_CONV_TFLITE = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "depthwise", "FULLY_CONNECTED": "dense",
                "TRANSPOSE_CONV": "transpose", "Convolution2DTransposeBias": "transpose_bias",
                "BATCH_MATMUL": "matmul"}


def _onnx_node(op: str, inputs: list, output: list) -> tuple[float, int]:
    """(flops, weights) of one profiled onnxruntime node from its shapes."""
    if "ConvTranspose" in op and len(inputs) >= 2:
        return 2.0 * prod(inputs[0]) * prod(inputs[1][1:]), prod(inputs[1]) + sum(prod(s) for s in inputs[2:3])
    if "Conv" in op and len(inputs) >= 2 and len(inputs[1]) >= 3:
        weights = prod(inputs[1]) + (prod(inputs[2]) if len(inputs) > 2 and len(inputs[2]) == 1 else 0)
        return 2.0 * prod(output) * prod(inputs[1][1:]), weights
    if op in ("MatMul", "Gemm", "FusedMatMul") and len(inputs) >= 2 and inputs[0]:
        weights = prod(inputs[1]) if op == "Gemm" else 0
        return 2.0 * prod(output) * inputs[0][-1], weights
    return 0.0, 0


def onnx_profile_cost(profile_json) -> dict:
    """GFLOPs and weights from an onnxruntime profile file (``SessionOptions.enable_profiling``)."""
    events = json.loads(Path(profile_json).read_text())
    flops, weights = 0.0, 0
    for e in events:
        args = e.get("args", {})
        if e.get("cat") != "Node" or "op_name" not in args or not e.get("name", "").endswith("_kernel_time"):
            continue
        shapes = lambda key: [next(iter(d.values())) for d in args.get(key, [])]  # noqa: E731
        out = shapes("output_type_shape")
        f, w = _onnx_node(args["op_name"], shapes("input_type_shape"), out[0] if out else [])
        flops, weights = flops + f, weights + w
    return {"gflops": flops / 1e9, "params": weights}


def tflite_cost(model_path) -> dict:
    """GFLOPs and weights of a .tflite at its static input size."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=str(model_path),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    shapes = {t["index"]: [int(v) for v in t["shape"]] for t in interp.get_tensor_details()}
    flops, weights = 0.0, 0
    for op in interp._get_ops_details():  # noqa: SLF001 - the only op-level view LiteRT offers
        kind = _CONV_TFLITE.get(op["op_name"])
        if kind is None:
            continue
        ins = [shapes[i] for i in op["inputs"] if i >= 0]
        out = shapes[op["outputs"][0]]
        if kind in ("transpose", "transpose_bias"):
            x, w = (ins[2], ins[1]) if kind == "transpose" else (ins[0], ins[1])
            flops += 2.0 * prod(x) * prod(w[:3])  # each input pixel spreads over O x kh x kw outputs
            weights += prod(w) + (prod(ins[2]) if kind == "transpose_bias" else 0)
            continue
        if kind == "matmul":
            flops += 2.0 * prod(out) * ins[0][-1]
            continue
        w = ins[1]
        per_output = prod(w[1:3]) if kind == "depthwise" else prod(w[1:])
        flops += 2.0 * prod(out) * per_output
        weights += prod(w) + (prod(ins[2]) if len(ins) > 2 else 0)
    return {"gflops": flops / 1e9, "params": weights}


def keras_gflops(model, inputs) -> float:
    """GFLOPs of a Keras model on these input arrays (TensorFlow profiler, see benchmarks/train_step.py)."""
    from benchmarks.train_step import gflops

    return gflops(model, inputs)
