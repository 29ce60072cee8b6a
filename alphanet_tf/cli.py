"""The `alphanet` command: `alphanet matte` here, other subcommands dispatched lazily to their modules.

Batch behaviour a user can rely on: every image is tried even when some fail, outputs are written
atomically (never half a file), existing outputs are skipped unless --overwrite, Ctrl-C stops after the
current image, and the exit code is non-zero whenever anything failed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from alphanet_tf import __version__
from alphanet_tf.preprocess import DEFAULT_MAX_SIDE, TRIMAP_MAX_SIDE

#: subcommand -> module whose `main(argv)` runs it (imported only when asked for).
DISPATCH = {
    "eval": "alphanet_tf.evaluation",
    "train": "training.cli",
    "qat": "export.qat",
    "export": "export.cli",
    "verify-export": "export.verify",
    "beam": "alphanet_tf.beam",
}
OUTPUTS = ("alpha", "rgba", "composite", "trimap")
STDIO = "-"

EXAMPLES = """\
examples:
  alphanet matte photo.jpg -o out/                     # out/photo.png, RGBA cut-out
  alphanet matte shots/ -r -o out/ --output all        # every image below shots/, 4 files each
  alphanet matte a.jpg b.png -o out/ --output composite --background '#00ff00'
  alphanet matte shots/ -o out/ --trimap trimaps/      # given-trimap mode, trimaps matched by stem
  alphanet matte shots/ -o out/ --model model.tflite --threads 2 --jobs 2
  cat photo.jpg | alphanet matte - -o - > cutout.png   # stdin to stdout
"""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alphanet",
        description="Automatic image matting (AlphaNet). Subcommands: matte, eval, train, qat, export, verify-export, beam.",
        epilog="Run 'alphanet matte --help' for the matting options.",
    )
    parser.add_argument("--version", action="version", version=f"alphanet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{matte,eval,train,qat,export,verify-export,beam}")
    m = sub.add_parser(
        "matte",
        help="cut out the foreground of images",
        description="Predict alpha mattes and write cut-outs, mattes, composites or trimaps as PNG.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, or '-' for stdin")
    m.add_argument("-o", "--out-dir", dest="out", required=True, metavar="OUTDIR",
                   help="output folder (created if needed), or '-' for stdout")
    m.add_argument("--output", choices=(*OUTPUTS, "all"), default="rgba",
                   help="rgba: cut-out PNG with alpha (default); alpha: 8-bit grey matte; composite: over "
                        "--background; trimap; all: every one, with suffixes _alpha, _rgba, ...")
    m.add_argument("--background", default="#ffffff", metavar="COLOR|IMAGE",
                   help="composite background: '#RRGGBB' or an image file (resized to cover); default white")
    m.add_argument("--no-fg-estimation", action="store_true",
                   help="keep the photo's colours at the edges (faster; fringes keep the old background)")
    m.add_argument("--model", default="default", metavar="default|PATH",
                   help="the shipped model, or a .keras file, a SavedModel folder or a .tflite file")
    m.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for the model")
    m.add_argument("--max-side", type=int, default=None, metavar="PX",
                   help=f"long side the network sees (default {DEFAULT_MAX_SIDE}, {TRIMAP_MAX_SIDE} with --trimap); "
                        "the matte is upsampled back")
    m.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse inputs with more pixels than this (default 64000000)")
    m.add_argument("--trimap", metavar="FILE|DIR",
                   help="given-trimap mode: a trimap file (one input) or a folder of trimaps named by stem")
    m.add_argument("--no-refine", action="store_true",
                   help="the net's matte as it is: skip its refinement (given trimap: the closed-form "
                        "matting-Laplacian solve; automatic: filling holes that show the subject's colours)")
    m.add_argument("-r", "--recursive", action="store_true", help="search folders recursively")
    m.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    m.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="images in flight at once in folder mode (decoding, encoding, colour estimation)")
    m.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the summary")
    return parser


def _dispatch(command: str, argv: list[str]) -> int:
    module_name = DISPATCH[command]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            print(f"alphanet {command}: not available ({module_name} is not installed)", file=sys.stderr)
        else:  # an optional dependency, e.g. apache_beam for `alphanet beam` (the `beam` extra)
            print(f"alphanet {command}: needs the package {e.name!r}, which is not installed", file=sys.stderr)
        return 2
    try:
        result = module.main(argv)
    except SystemExit as e:  # argparse's --help and usage errors in the subcommand
        result = e.code if e.code is None or isinstance(e.code, int) else 1
    return int(result or 0)


@dataclass
class Job:
    """One input and where its outputs go."""

    source: str  # a path, or '-' for stdin
    stem: str
    outputs: dict = field(default_factory=dict)  # kind -> Path, or STDIO
    trimap: Path | None = None


@dataclass
class Summary:
    done: int = 0
    skipped: list = field(default_factory=list)  # (source, reason)
    failed: list = field(default_factory=list)  # (source, reason)
    interrupted: bool = False

    def lines(self) -> list[str]:
        out = [f"done {self.done}, skipped {len(self.skipped)}, failed {len(self.failed)}"
               + (" (interrupted)" if self.interrupted else "")]
        out += [f"  skipped {src}: {why}" for src, why in self.skipped[:20]]
        if len(self.skipped) > 20:
            out.append(f"  ... and {len(self.skipped) - 20} more skipped")
        out += [f"  failed {src}: {why}" for src, why in self.failed]
        return out


def _collect_inputs(inputs, recursive, summary, out_dir=None):
    """(path or '-', root folder or None) pairs; missing paths and empty folders are recorded as failures.

    Files below `out_dir` are never inputs, so `-o shots/out` inside `shots/ -r` does not eat its outputs.
    """
    from alphanet_tf.imageio import list_images

    out_resolved = out_dir.resolve() if out_dir is not None else None
    found = []
    for item in inputs:
        if item == STDIO:
            found.append((STDIO, None))
            continue
        path = Path(item)
        if path.is_dir():
            images = list_images(path, recursive)
            root = path.resolve()
            if out_resolved is not None and out_resolved != root and out_resolved.is_relative_to(root):
                images = [p for p in images if not p.resolve().is_relative_to(out_resolved)]
            if not images:
                hint = "" if recursive else " (use -r to search subfolders)"
                summary.failed.append((item, f"no images found{hint}"))
            found.extend((p, path) for p in images)
        elif path.exists():
            found.append((path, None))
        else:
            summary.failed.append((item, "file not found"))
    return found


def _output_names(stem: str, kinds) -> dict:
    if len(kinds) == 1:
        return {kinds[0]: f"{stem}.png"}
    return {k: f"{stem}_{k}.png" for k in kinds}


def _trimap_finder(trimap_arg: Path, n_inputs: int):
    """stem -> trimap path: one FILE for a single input, or a folder indexed once by stem (`a` or `a_trimap`)."""
    from alphanet_tf.imageio import IMAGE_EXTENSIONS

    if trimap_arg.is_file():
        def single(stem):
            if n_inputs != 1:
                raise ValueError("--trimap FILE needs exactly one input; give a folder of trimaps named by stem")
            return trimap_arg

        return single
    index = {}
    for candidate in sorted(trimap_arg.iterdir(), reverse=True):  # 'a' wins over 'a_trimap'
        if candidate.is_file() and candidate.suffix.lower() in IMAGE_EXTENSIONS:
            index[candidate.stem] = candidate
            index.setdefault(candidate.stem.removesuffix("_trimap"), candidate)

    def by_stem(stem):
        if stem not in index:
            raise ValueError(f"no trimap named {stem}.* in {trimap_arg}")
        return index[stem]

    return by_stem


def _plan(args, summary) -> list[Job] | None:
    """Maps inputs to outputs; refuses (per image) outputs that would overwrite an input or collide."""
    kinds = list(OUTPUTS) if args.output == "all" else [args.output]
    to_stdout = args.out == STDIO
    out_dir = None if to_stdout else Path(args.out)
    found = _collect_inputs(args.inputs, args.recursive, summary, out_dir)
    if to_stdout and (len(found) + len(summary.failed) != 1 or len(kinds) != 1):
        print("alphanet matte: '-o -' writes one PNG to stdout: give exactly one input and one --output",
              file=sys.stderr)
        return None
    if sum(1 for src, _ in found if src == STDIO) > 1:
        print("alphanet matte: '-' (stdin) can be given only once", file=sys.stderr)
        return None
    trimap_arg = Path(args.trimap) if args.trimap else None
    if trimap_arg is not None and not trimap_arg.exists():
        print(f"alphanet matte: {trimap_arg}: trimap file or folder not found", file=sys.stderr)
        return None
    find_trimap = None if trimap_arg is None else _trimap_finder(trimap_arg, len(found))
    input_paths = {Path(src).resolve() for src, _ in found if src != STDIO}
    claimed = {}
    jobs = []
    for src, root in found:
        stem = "stdin" if src == STDIO else Path(src).stem
        job = Job(str(src), stem)
        try:
            if find_trimap is not None:
                job.trimap = find_trimap(stem)
            if to_stdout:
                job.outputs = {kinds[0]: STDIO}
            else:
                sub = Path(src).parent.relative_to(root) if root is not None else Path()
                for kind, name in _output_names(stem, kinds).items():
                    target = out_dir / sub / name
                    resolved = target.resolve()
                    if resolved in input_paths:
                        raise ValueError(f"output {target} would overwrite an input; choose another -o")
                    if resolved in claimed:
                        raise ValueError(f"output {target} is also the output of {claimed[resolved]}")
                    claimed[resolved] = src
                    job.outputs[kind] = target
        except ValueError as e:
            summary.failed.append((str(src), str(e)))
            continue
        jobs.append(job)
    return jobs


class _StopFlag:
    """First Ctrl-C: finish the current image(s), then stop. Second Ctrl-C: stop at once."""

    def __init__(self):
        self.event = threading.Event()
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        print("\nalphanet: stopping after the current image (Ctrl-C again to abort)", file=sys.stderr)

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


class _Worker:
    """Turns one Job into files; everything it raises for one image is that image's failure reason."""

    def __init__(self, matter, background, overwrite, max_pixels):
        self.matter = matter
        self.background = background  # a colour (3,) or an image, fitted to each input's size
        self.overwrite = overwrite
        self.max_pixels = max_pixels
        self.dropped_alpha = []  # inputs whose transparency was ignored (warned about once)

    def __call__(self, job: Job):
        from alphanet_tf import foreground as fg
        from alphanet_tf.imageio import (
            encode_png,
            read_background,
            read_image,
            read_trimap,
            to_uint8,
            write_bytes_atomic,
        )

        todo = {k: p for k, p in job.outputs.items() if p == STDIO or self.overwrite or not p.exists()}
        if not todo:
            return "skipped", "outputs exist (use --overwrite)"
        if job.source == STDIO:
            image, info = read_image(sys.stdin.buffer.read(), max_pixels=self.max_pixels, name="<stdin>")
        else:
            image, info = read_image(job.source, max_pixels=self.max_pixels)
        if info.dropped_alpha:
            self.dropped_alpha.append(job.source)
        trimap = None if job.trimap is None else read_trimap(job.trimap, image.shape[:2])
        result = self.matter.predict(image, trimap)
        alpha = result["alpha"]
        arrays = {}
        if "alpha" in todo:
            arrays["alpha"] = to_uint8(alpha)
        if "trimap" in todo:
            if result.get("trimap") is None:
                raise ValueError(f"the model {self.matter.name} has no trimap output")
            arrays["trimap"] = to_uint8(result["trimap"])
        if "rgba" in todo or "composite" in todo:
            colours = self.matter.foreground(image, alpha)
            if "rgba" in todo:
                arrays["rgba"] = fg.rgba(colours, alpha)
            if "composite" in todo:
                bg = read_background(self.background, image.shape[:2])
                arrays["composite"] = fg.composite(colours, alpha, bg)
        encoded = {k: encode_png(arrays[k]) for k in todo}  # encode all before writing any
        for kind, target in todo.items():
            if target == STDIO:
                sys.stdout.buffer.write(encoded[kind])
                sys.stdout.buffer.flush()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(target, encoded[kind])
        kept = len(job.outputs) - len(todo)
        return "done", (f"{kept} existing output(s) kept" if kept else "")


def _run_jobs(jobs, worker, args, summary, stop):
    from tqdm import tqdm

    show_bar = not args.quiet and args.out != STDIO and len(jobs) > 1
    bar = tqdm(total=len(jobs), unit="img", disable=not show_bar, file=sys.stderr, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}]")

    def record(job, outcome):
        status, detail = outcome
        if status == "done":
            summary.done += 1
        elif status == "skipped":
            summary.skipped.append((job.source, detail))
        else:
            summary.failed.append((job.source, detail))
        bar.update(1)

    def guarded(job):
        if stop.event.is_set():
            return None
        try:
            return worker(job)
        except Exception as e:  # one image's failure must not end the batch
            reason = " ".join(str(e).split()) or type(e).__name__
            prefix = f"{job.source}: "
            return "failed", reason[len(prefix):] if reason.startswith(prefix) else reason

    try:
        if args.jobs <= 1:
            for job in jobs:
                outcome = guarded(job)
                if outcome is None:
                    break
                record(job, outcome)
        else:
            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                for job, outcome in zip(jobs, pool.map(guarded, jobs)):
                    if outcome is not None:
                        record(job, outcome)
    finally:
        bar.close()
    summary.interrupted = stop.event.is_set()


def matte_main(args) -> int:
    """Runs `alphanet matte`; returns 0 when every image succeeded (or was skipped), 1 otherwise."""
    from alphanet_tf.imageio import DEFAULT_MAX_PIXELS, ImageError, read_background
    from alphanet_tf.runtimes import ModelError

    summary = Summary()
    jobs = _plan(args, summary)
    if jobs is None:
        return 2
    if not jobs:
        for line in summary.lines():
            print(line, file=sys.stderr)
        return 1
    max_pixels = args.max_pixels or DEFAULT_MAX_PIXELS
    try:
        background = read_background(args.background) if args.output in ("composite", "all") else None
        from alphanet_tf.inference import Matter

        matter = Matter(args.model, threads=args.threads, max_side=args.max_side,
                        fg_estimation=not args.no_fg_estimation, max_pixels=max_pixels,
                        refine=not args.no_refine)
    except (ModelError, ImageError) as e:
        print(f"alphanet matte: {e}", file=sys.stderr)
        return 2
    worker = _Worker(matter, background, args.overwrite, max_pixels)
    start = time.perf_counter()
    with _StopFlag() as stop:
        try:
            _run_jobs(jobs, worker, args, summary, stop)
        except KeyboardInterrupt:
            summary.interrupted = True
    elapsed = time.perf_counter() - start
    if worker.dropped_alpha:
        print(f"note: the inputs' own alpha channels were ignored ({len(worker.dropped_alpha)} image(s), "
              f"e.g. {worker.dropped_alpha[0]})", file=sys.stderr)
    if not (args.out == STDIO and not summary.failed):
        lines = summary.lines()
        if summary.done and elapsed > 0:
            lines[0] += f" in {elapsed:.1f} s ({summary.done / elapsed:.2f} img/s)"
        for line in lines:
            print(line, file=sys.stderr)
    if summary.interrupted:
        return 130
    return 1 if summary.failed else 0


def main(argv=None) -> int:
    """Entry point of the `alphanet` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not for users
    if argv and argv[0] in DISPATCH:
        return _dispatch(argv[0], argv[1:])
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors
        return int(e.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    return matte_main(args)


if __name__ == "__main__":
    sys.exit(main())
