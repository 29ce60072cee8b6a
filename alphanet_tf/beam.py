"""Catalogue-scale matting on Apache Beam: file patterns -> RunInference -> PNGs and a JSON-lines manifest.

    alphanet beam --input 'photos/*.jpg' --output out/ --model default|PATH
        [--output-kind rgba|alpha] [--min-batch 1 --max-batch 8] [--runner DirectRunner] [Beam options]

The same promises as `alphanet matte`, at a scale where one bad file must not cost a day's job: every input
gets one manifest row `{input, output, status, error, seconds}` (status done, skipped or failed), a bad file
is a row and never a failed pipeline, outputs are written atomically, and existing outputs are skipped, so
re-running a job that died resumes it. Decoding is `alphanet_tf.imageio` (for local files the very call the
CLI makes), the network input is `alphanet_tf.preprocess`, the engine is `alphanet_tf.runtimes`. Paths may be
local or on any Beam filesystem (gs://, s3://, ... with the matching Beam extra installed). See
docs/scaling.md for the Dataflow, Flink and Spark command lines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

import numpy as np

try:
    import apache_beam as beam
except ModuleNotFoundError as e:  # the optional extra
    raise ModuleNotFoundError("alphanet_tf.beam needs Apache Beam: pip install 'alphanet_tf[beam]'") from e
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from alphanet_tf.hole_filling import fill_foreground_holes
from alphanet_tf.imageio import DEFAULT_MAX_PIXELS, ImageError, encode_png, read_image, to_uint8, write_bytes_atomic
from alphanet_tf.preprocess import (
    DEFAULT_MAX_SIDE,
    MULTIPLE,
    Geometry,
    cap_long_side,
    capped_size,
    pad_reflect,
    restore,
)

MANIFEST = "manifest.jsonl"
KINDS = ("rgba", "alpha")
_WILDCARDS = "*?["
_NS = "alphanet"


def row(input_, output=None, status="failed", error=None, seconds=0.0) -> dict:
    """One manifest line."""
    return {"input": input_, "output": output, "status": status, "error": error, "seconds": round(seconds, 4)}


def _reason(path, e: BaseException) -> str:
    """One line naming the file, like `ImageError` messages (which already do)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if text.startswith(f"{path}: ") else f"{path}: {text}"


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def _same_path(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) if _is_local(a) and _is_local(b) else a == b


def pattern_base(pattern: str) -> str:
    """The folder a pattern's matches are named relative to: its part before the first wildcard, up to
    the last '/' (a literal path: its folder). `photos/**` -> `photos/`, so `photos/a/x.jpg` -> `out/a/x.png`."""
    cut = min([pattern.index(c) for c in _WILDCARDS if c in pattern] + [len(pattern)])
    head = pattern[:cut] if cut < len(pattern) else pattern
    return head[: head.rfind("/") + 1]


def output_path(input_path: str, base: str, out_prefix: str) -> str:
    """`<out_prefix>/<path below base, suffix replaced by .png>`: the CLI's `<stem>.png` for one output kind."""
    rel = input_path[len(base):] if input_path.startswith(base) else input_path.rsplit("/", 1)[-1]
    stem, dot, _ = rel.rpartition(".")
    return FileSystems.join(out_prefix.rstrip("/") or "/", (stem if dot else rel) + ".png")


def pad_batch(images, max_side=DEFAULT_MAX_SIDE, multiple=MULTIPLE):
    """uint8 RGB images of any sizes -> (float32 N x Hb x Wb x 3, [Geometry]).

    Each image is capped as `preprocess.prepare` caps it, then reflect-padded (split as `pad_amounts`
    splits it) to the batch's largest height and width rounded up to `multiple`; `preprocess.restore`
    crops each output back. An image whose padded size is the batch's gets exactly `prepare`'s input.
    """
    scaled = [cap_long_side(im, max_side) for im in images]
    hb = max(s.shape[0] for s in scaled)
    wb = max(s.shape[1] for s in scaled)
    hb, wb = hb + (-hb % multiple), wb + (-wb % multiple)
    xs, geoms = [], []
    for image, s in zip(images, scaled):
        h, w = s.shape[:2]
        pad = ((hb - h) // 2, hb - h - (hb - h) // 2, (wb - w) // 2, wb - w - (wb - w) // 2)
        xs.append(pad_reflect(s, pad).astype(np.float32))
        geoms.append(Geometry(tuple(image.shape[:2]), (h, w), pad))
    return np.stack(xs), geoms


def padded_size(image, max_side=DEFAULT_MAX_SIDE, multiple=MULTIPLE):
    """The (Hp, Wp) `prepare` would give `image`: images sharing it need no extra padding together."""
    h, w = capped_size(image.shape[:2], max_side)
    return h + (-h % multiple), w + (-w % multiple)


class MattingModelHandler(ModelHandler):
    """RunInference handler: uint8 RGB images of any sizes -> float32 alpha mattes at each image's size.

    Not Beam's stock `TFModelHandlerNumpy`/`TFModelHandlerTensor`, checked with Beam 2.77 and Keras 3.15:
    their module imports `tensorflow_hub` (not installed by apache-beam; tensorflow-hub 0.16 pulls the full
    `tensorflow` wheel and tf_keras); they load with `tf.keras.models.load_model`, which under Keras 3
    refuses our SavedModel ("the legacy SavedModel format is not supported") and cannot open a .tflite; and
    their default inference `numpy.stack`s the batch ("all input arrays must have the same shape" for
    mixed sizes) and calls the model eagerly (4x slower than `load_runtime`'s traced function on a batch of
    4 at 256 px). So this handler loads through `alphanet_tf.runtimes.load_runtime`, the engine of
    `alphanet matte` for .keras, SavedModel and .tflite files alike, and pads each batch with `pad_batch`.

    `mixed_sizes="pad"`: one model call per batch (the spec; small images batched with large ones see more
    mirrored border, so their mattes differ slightly from the CLI's). `"split"`: one call per distinct padded
    size, which gives exactly the CLI's mattes. `refine`: fill the matte's holes that show the subject's
    colours, as `alphanet matte` does (`alphanet_tf.hole_filling`).
    """

    def __init__(self, model="default", threads=None, max_side=DEFAULT_MAX_SIDE, min_batch=1, max_batch=8,
                 mixed_sizes="pad", refine=True):
        super().__init__(min_batch_size=min_batch, max_batch_size=max_batch)
        self.model, self.threads, self.max_side, self.mixed_sizes = str(model), threads, max_side, mixed_sizes
        self.refine = refine

    def load_model(self):
        from alphanet_tf.runtimes import load_runtime

        return load_runtime(self.model, self.threads)

    def run_inference(self, batch, model, inference_args=None):
        start = time.perf_counter()
        groups = {}
        for i, image in enumerate(batch):
            key = padded_size(image, self.max_side) if self.mixed_sizes == "split" else None
            groups.setdefault(key, []).append(i)
        alphas = [None] * len(batch)
        for idx in groups.values():
            images = [batch[i] for i in idx]
            x, geoms = pad_batch(images, self.max_side)
            out = model.predict(x)["alpha"]
            for j, i in enumerate(idx):
                alphas[i] = restore(out[j], geoms[j], guide=images[j])
                if self.refine:
                    alphas[i] = fill_foreground_holes(images[j], alphas[i])
        share = (time.perf_counter() - start) / len(batch)
        return [PredictionResult(image, {"alpha": a, "seconds": share}) for image, a in zip(batch, alphas)]

    def get_num_bytes(self, batch):
        return int(sum(np.asarray(x).nbytes for x in batch))  # the default pickles every image again

    def get_metrics_namespace(self):
        return "AlphaNet"


class MatchInputs(beam.DoFn):
    """pattern -> (output path, input path) for each file it matches; a pattern matching nothing, or
    failing to match, becomes a failed row (tag "rows").

    Not `fileio.MatchAll`: it drops an unmatched pattern (`EmptyMatchTreatment.ALLOW`) or fails the whole
    pipeline (`DISALLOW`), and in a catalogue list a missing file must be a manifest row. This DoFn makes
    the same `FileSystems.match` call. Hidden files (our temp files among them) and files under the output
    prefix are never inputs.
    """

    def __init__(self, out_prefix):
        self.out_prefix = out_prefix

    def _below_output(self, path):
        if _is_local(path) and _is_local(self.out_prefix):
            return os.path.abspath(path).startswith(os.path.abspath(self.out_prefix).rstrip("/") + "/")
        return path.startswith(self.out_prefix.rstrip("/") + "/")

    def process(self, pattern):
        pattern = pattern.strip()
        if not pattern:
            return
        try:
            found = FileSystems.match([pattern])[0].metadata_list
        except Exception as e:
            yield beam.pvalue.TaggedOutput("rows", row(pattern, error=_reason(pattern, e)))
            return
        base = pattern_base(pattern)
        kept = [m.path for m in found if not m.path.rsplit("/", 1)[-1].startswith(".")
                and not self._below_output(m.path)]
        if not kept:
            what = "file not found" if not any(c in pattern for c in _WILDCARDS) else "no file matches"
            yield beam.pvalue.TaggedOutput("rows", row(pattern, error=f"{pattern}: {what}"))
        for path in kept:
            yield output_path(path, base, self.out_prefix), path


class PlanOutputs(beam.DoFn):
    """(output, [inputs]) -> the input to matte, or rows: an output claimed twice, one that would replace
    its input, or one that exists already (skipped: this is what makes a re-run resume)."""

    def __init__(self, overwrite=False):
        self.overwrite = overwrite

    def process(self, element):
        output, inputs = element
        first, *others = sorted(set(inputs))
        for other in others:
            yield beam.pvalue.TaggedOutput("rows", row(other, error=f"{other}: output {output} is also the output of {first}"))
        if _same_path(first, output):
            yield beam.pvalue.TaggedOutput("rows", row(first, error=f"{first}: output would overwrite the input"))
        elif not self.overwrite and FileSystems.exists(output):
            yield beam.pvalue.TaggedOutput("rows", row(first, output, "skipped", "output exists"))
        else:
            yield first, output


class Decode(beam.DoFn):
    """(input, output) -> ((input, output, seconds so far), uint8 RGB): `imageio.read_image`, as the CLI.

    A local file is passed by path (the CLI's exact call and messages); a remote one is read whole and
    decoded from bytes named by its path. Every `ImageError` (empty, truncated, not an image, too large,
    too small) becomes a failed row naming the file.
    """

    def __init__(self, max_pixels=DEFAULT_MAX_PIXELS):
        self.max_pixels = max_pixels

    def process(self, element):
        source, output = element
        start = time.perf_counter()
        try:
            if _is_local(source):
                image, _ = read_image(source, max_pixels=self.max_pixels)
            else:
                from apache_beam.io.filesystem import CompressionTypes

                with FileSystems.open(source, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                    image, _ = read_image(f.read(), max_pixels=self.max_pixels, name=source)
        except Exception as e:  # ImageError, and I/O errors of the filesystem
            yield beam.pvalue.TaggedOutput("rows", row(source, error=_reason(source, e),
                                                       seconds=time.perf_counter() - start))
            return
        yield (source, output, time.perf_counter() - start), image


def write_atomic(path: str, data: bytes) -> None:
    """Readers never see half a file: local files through `imageio.write_bytes_atomic` (temp + fsync +
    rename); other filesystems through a hidden temp object renamed into place."""
    if _is_local(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_bytes_atomic(path, data)
        return
    folder, name = path.rsplit("/", 1)
    tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
    with FileSystems.create(tmp) as f:
        f.write(data)
    FileSystems.rename([tmp], [path])


class WriteOutput(beam.DoFn):
    """((input, output, seconds), PredictionResult) -> the PNG on disk and a done row.

    rgba: the photo's decontaminated colours plus the alpha (`alphanet_tf.foreground`, as the CLI);
    alpha: the 8-bit grey matte.
    """

    def __init__(self, kind="rgba", fg_estimation=True):
        self.kind, self.fg_estimation = kind, fg_estimation

    def process(self, element):
        (source, output, seconds), result = element
        start = time.perf_counter()
        try:
            alpha = result.inference["alpha"]
            if self.kind == "alpha":
                array = to_uint8(alpha)
            else:
                from alphanet_tf import foreground as fg

                image = result.example
                colours = fg.estimate_foreground(image, alpha) if self.fg_estimation else image
                array = fg.rgba(colours, alpha)
            write_atomic(output, encode_png(array))
        except Exception as e:
            yield row(source, error=_reason(source, e), seconds=seconds + time.perf_counter() - start)
            return
        total = seconds + result.inference["seconds"] + time.perf_counter() - start
        Metrics.distribution(_NS, "image_ms").update(int(total * 1000))
        yield row(source, output, "done", seconds=total)


def failed_batch_rows(element):
    """A batch the model raised on -> one failed row per image in it."""
    batch, error = element
    for (source, _output, seconds), _image in batch:
        yield row(source, error=_reason(source, error), seconds=seconds)


def count(r: dict) -> dict:
    Metrics.counter(_NS, r["status"]).inc()
    return r


def build(p, patterns, out_prefix, model="default", kind="rgba", min_batch=1, max_batch=8, threads=None,
          max_side=DEFAULT_MAX_SIDE, max_pixels=DEFAULT_MAX_PIXELS, fg_estimation=True, overwrite=False,
          mixed_sizes="pad", manifest_shards=1, refine=True):
    """Adds the pipeline to `p`; `patterns` is a PCollection of paths or glob patterns (one per element)."""
    matched = patterns | "Match" >> beam.ParDo(MatchInputs(out_prefix)).with_outputs("rows", main="files")
    planned = (matched.files | "ByOutput" >> beam.GroupByKey()
               | "Plan" >> beam.ParDo(PlanOutputs(overwrite)).with_outputs("rows", main="todo"))
    decoded = planned.todo | "Decode" >> beam.ParDo(Decode(max_pixels)).with_outputs("rows", main="images")
    handler = KeyedModelHandler(MattingModelHandler(model, threads, max_side, min_batch, max_batch, mixed_sizes,
                                                    refine))
    results, dlq = decoded.images | "Matte" >> RunInference(handler).with_exception_handling()
    written = results | "Write" >> beam.ParDo(WriteOutput(kind, fg_estimation))
    model_failed = dlq.failed_inferences | "ModelFailed" >> beam.FlatMap(failed_batch_rows)
    rows = ((matched.rows, planned.rows, decoded.rows, written, model_failed) | "Rows" >> beam.Flatten()
            | "Count" >> beam.Map(count) | "Json" >> beam.Map(json.dumps, sort_keys=True))
    name = FileSystems.join(out_prefix.rstrip("/") or "/", MANIFEST.removesuffix(".jsonl"))
    one = manifest_shards == 1
    return rows | "Manifest" >> beam.io.WriteToText(name, file_name_suffix=".jsonl", num_shards=manifest_shards,
                                                    shard_name_template="" if one else None)


def _parser():
    ap = argparse.ArgumentParser(
        prog="alphanet beam",
        description="Matte a catalogue with Apache Beam: PNGs and manifest.jsonl under --output. Options not "
                    "listed here (--runner, --project, --temp_location, ...) go to Beam's PipelineOptions.")
    ap.add_argument("--input", action="append", default=[], metavar="PATTERN",
                    help="a file, or a glob on any Beam filesystem ('photos/*.jpg', 'photos/**'); repeatable")
    ap.add_argument("--input-list", metavar="FILE", help="a text file with one path or pattern per line")
    ap.add_argument("--output", required=True, metavar="PREFIX", help="output folder / prefix")
    ap.add_argument("--model", default="default", metavar="default|PATH",
                    help="the shipped model, or a .keras, .tflite or SavedModel path readable by the workers")
    ap.add_argument("--output-kind", choices=KINDS, default="rgba",
                    help="rgba: cut-out with alpha (default); alpha: 8-bit grey matte")
    ap.add_argument("--min-batch", type=int, default=1, help="smallest RunInference batch (default 1)")
    ap.add_argument("--max-batch", type=int, default=8, help="largest RunInference batch (default 8)")
    ap.add_argument("--mixed-sizes", choices=("pad", "split"), default="pad",
                    help="pad: one model call per batch, padded to its largest image (default); split: one "
                         "call per padded size, mattes identical to `alphanet matte`")
    ap.add_argument("--threads", type=int, default=None, help="TensorFlow / LiteRT threads per model copy")
    ap.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, help="long side the network sees")
    ap.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger inputs")
    ap.add_argument("--no-fg-estimation", action="store_true", help="rgba: keep the photo's edge colours")
    ap.add_argument("--no-refine", action="store_true",
                    help="the net's matte as it is: do not fill its holes that show the subject's colours")
    ap.add_argument("--overwrite", action="store_true", help="redo images whose output exists")
    ap.add_argument("--manifest-shards", type=int, default=1,
                    help="1: one manifest.jsonl (default); N: manifest-0000i-of-N.jsonl, for huge jobs")
    return ap


def _check_model(model: str) -> None:
    """A missing local model fails at launch, not after the workers start."""
    from alphanet_tf.bundle import resolve_model_path

    if model == "default" or _is_local(model):
        resolve_model_path(model)


def _counter(result, name) -> int:
    try:
        found = result.metrics().query(MetricsFilter().with_namespace(_NS).with_name(name))["counters"]
    except Exception:  # a runner without metrics support
        return 0
    return int(sum(c.committed if c.committed is not None else c.attempted for c in found))


def run(argv=None) -> int:
    """Builds and runs the pipeline; prints a summary with images/s per core. Exit code: 0 nothing failed,
    1 some image failed (see the manifest), 2 bad arguments or a missing model."""
    args, beam_args = _parser().parse_known_args(argv)
    if not args.input and not args.input_list:
        print("alphanet beam: give --input PATTERN and/or --input-list FILE", file=sys.stderr)
        return 2
    if not 1 <= args.min_batch <= args.max_batch:
        print("alphanet beam: need 1 <= --min-batch <= --max-batch", file=sys.stderr)
        return 2
    from alphanet_tf.runtimes import ModelError

    try:
        _check_model(args.model)
    except ModelError as e:
        print(f"alphanet beam: {e}", file=sys.stderr)
        return 2
    options = PipelineOptions(beam_args)
    start = time.perf_counter()
    p = beam.Pipeline(options=options)
    patterns = p | "Patterns" >> beam.Create(args.input)
    if args.input_list:
        listed = p | "InputList" >> beam.io.ReadFromText(args.input_list)
        patterns = (patterns, listed) | "AllPatterns" >> beam.Flatten()
    build(patterns=patterns, p=p, out_prefix=args.output, model=args.model, kind=args.output_kind,
          min_batch=args.min_batch, max_batch=args.max_batch, threads=args.threads, max_side=args.max_side,
          max_pixels=args.max_pixels, fg_estimation=not args.no_fg_estimation, overwrite=args.overwrite,
          mixed_sizes=args.mixed_sizes, manifest_shards=args.manifest_shards, refine=not args.no_refine)
    result = p.run()
    result.wait_until_finish()
    elapsed = time.perf_counter() - start
    done, skipped, failed = (_counter(result, k) for k in ("done", "skipped", "failed"))
    line = f"done {done}, skipped {skipped}, failed {failed} in {elapsed:.1f} s"
    runner = str(options.get_all_options().get("runner") or "DirectRunner")
    if done and "Direct" in runner:
        cores = os.cpu_count() or 1
        line += f" ({done / elapsed:.2f} img/s, {done / elapsed / cores:.2f} img/s per core on {cores} cores)"
    print(line, file=sys.stderr)
    print(f"manifest: {FileSystems.join(args.output.rstrip('/') or '/', MANIFEST)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
