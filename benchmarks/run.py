"""`python -m benchmarks.run`: our models and the peers on the same images -> results.json, report.md, figures.

    python -m benchmarks.run --validation --out out/bench                  # the validation sets, everything
    python -m benchmarks.run --validation --quick --out out/bench-smoke    # 2 images per set, few repeats
    python -m benchmarks.run --images DIR --alphas DIR [--trimaps DIR] [--masks-images DIR --masks DIR ...]
        [--model default|PATH] [--ablation NAME=PATH ...] [--hatt NAME=PATH ...] [--artifacts DIR] --out DIR
        [--methods SLUG ...] [--skip SLUG ...] [--threads 1 2] [--stages predict speed report]

Stages: `predict` fills OUT/cache with every method's mattes (PNG; cached images are skipped), `speed` times
every method in a worker process per thread count (cached per method), `report` scores the cache with
`alphanet eval`'s scorer and writes OUT/results.json, OUT/report.md and the figures. Every stage restarts
where it stopped. Exit codes: 0 done, 1 done but some predictions or timings failed (listed), 2 setup error.
Do not time beside a training run: two threads only help when the other core is idle.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path

from alphanet_tf.evaluation import CONVENTIONS, EvalError, read_rgb
from alphanet_tf.imageio import read_trimap, write_bytes_atomic
from alphanet_tf.runtimes import ModelError
from benchmarks import datasets as data
from benchmarks import plots, quality, report, speed
from benchmarks.cache import PredictionCache
from benchmarks.peers.files import PeerFileError
from benchmarks.predict import run_predictions
from benchmarks.registry import SelectionError, select_methods

STAGES = ("predict", "speed", "report")
QUICK_IMAGES = 2


class SetupError(ValueError):
    """A bad combination of options: one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", help="matting images (files pair up by stem)")
    p.add_argument("--alphas", help="ground-truth alphas of --images")
    p.add_argument("--trimaps", help="trimaps (0/128/255) of --images, for Table II")
    p.add_argument("--masks-images", action="append", default=[], metavar="DIR", help="images of a mask set (repeat)")
    p.add_argument("--masks", action="append", default=[], metavar="DIR",
                   help="its masks, X.png or X_mask.png (repeat)")
    p.add_argument("--validation", action="store_true",
                   help="the validation stems of splits.json: alphamatting (Trimap1), humanseg290, pennfudan, ccp, davis")
    p.add_argument("--data-root", help="shared data folder for --validation (default $ALPHANET_DATA or ../shared/data)")
    p.add_argument("--model", default="default", help="our AlphaNet: 'default' or a .keras/.tflite/SavedModel path")
    p.add_argument("--ablation", action="append", default=[], metavar="NAME=PATH", help="another AlphaNet (repeat)")
    p.add_argument("--hatt", action="append", default=[], metavar="NAME=PATH",
                   help="a trimap-free model of ours that is not AlphaNet, e.g. HAttMatting (repeat)")
    p.add_argument("--artifacts", metavar="DIR", help="every .tflite and SavedModel in DIR (alphanet export --out)")
    p.add_argument("--out", required=True, help="output folder (cache, results.json, report.md, figures)")
    p.add_argument("--methods", nargs="+", metavar="SLUG", help="only these methods (glob patterns; see --list)")
    p.add_argument("--skip", nargs="+", default=[], metavar="SLUG", help="leave these methods out (glob patterns)")
    p.add_argument("--list", action="store_true", help="print the methods and exit")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_IMAGES} images per set, few repeats: a smoke run")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="thread counts to time (default 1 2)")
    p.add_argument("--repeats", type=int, help="timed calls per measurement (default 5, --quick 2)")
    p.add_argument("--budget", type=float, help="seconds per measurement before stopping early, after at least 3 "
                                                "calls (default 10, --quick 2)")
    p.add_argument("--scaling", nargs="*", metavar="SLUG",
                   help="methods timed at long sides 256..2048 (default: an int8 artifact or alphanet, and modnet)")
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES), help="stages to run (default all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


# ----------------------------------------------------------------------------------- setup
def resolve_datasets(args) -> list:
    """The sets of the run; subsets (validation stems, --quick) become symlink folders under OUT/data."""
    out = Path(args.out) / "data"
    if args.validation:
        if args.images or args.masks_images:
            raise SetupError("--validation sets its own folders: leave out --images / --masks-images")
        chosen = data.validation_sets(args.data_root)
    else:
        if bool(args.images) != bool(args.alphas):
            raise SetupError("--images and --alphas go together")
        if args.trimaps and not args.images:
            raise SetupError("--trimaps needs --images and --alphas")
        if len(args.masks_images) != len(args.masks):
            raise SetupError("give --masks-images and --masks in pairs")
        chosen = []
        if args.images:
            chosen.append(data.make(None, data.MATTING, args.images, args.alphas, args.trimaps))
        chosen += [data.make(None, data.SEGMENTATION, i, m) for i, m in zip(args.masks_images, args.masks)]
        if not chosen:
            raise SetupError("nothing to score: give --images/--alphas, --masks-images/--masks or --validation")
        chosen = [(ds, None) for ds in chosen]
    sets, names = [], set()
    for ds, stems in chosen:
        if ds.name in names:
            raise SetupError(f"two sets are both named {ds.name!r} (named after their folder): rename one folder")
        names.add(ds.name)
        stems = list(ds.stems if stems is None else [s for s in ds.stems if s in set(stems)])
        if args.quick:
            stems = stems[:QUICK_IMAGES]
        sets.append(ds if stems == list(ds.stems) else data.subset(ds, stems, out))
    return sets


def default_scaling(methods) -> list[str]:
    slugs = [m.slug for m in methods]
    ours = next((s for s in slugs if "int8" in s and s.endswith("tflite")), "alphanet")
    return [s for s in (ours, "modnet") if s in slugs]


def speed_inputs(datasets):
    """(image, trimap or None) of the speed benchmark: the first image of the matting set, else of any set."""
    ds = next((d for d in datasets if d.task == data.MATTING), datasets[0])
    stem = ds.stems[0]
    image = read_rgb(ds.image_files()[stem])
    trimap = read_trimap(ds.trimap_files()[stem], image.shape[:2]) if ds.trimaps else None
    return image, trimap, f"{ds.name}/{stem}"


def describe_methods(methods) -> dict:
    out = {}
    for m in methods:
        files = m.files()
        size = sum(f.stat().st_size for f in files)
        out[m.slug] = {**m.describe(), "files": [str(f) for f in files],
                       "file_mb": size / 1e6 if files else None, "fingerprint": m.fingerprint()}
    return out


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = []
    for pkg in ("tensorflow-cpu", "onnxruntime", "ai-edge-litert", "pymatting"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, " + ", ".join(versions)


# ----------------------------------------------------------------------------------- run
def run(args, methods=None) -> int:
    """Runs the stages; `methods` overrides the selection from the options (tests, notebooks)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    datasets = resolve_datasets(args)
    if methods is None:
        methods = select_methods(args.model, args.ablation, args.artifacts, args.methods, args.skip,
                                 hatt=args.hatt)
    if args.list:
        for m in methods:
            print(f"{m.slug:32s} {m.name} [{m.kind}{', given trimap' if m.given_trimap else ''}; {m.runtime}]")
        return 0
    described = describe_methods(methods)  # checks every model file (sha256, fetch) before any work
    cache = PredictionCache(out / "cache")
    progress = not args.no_progress
    repeats = args.repeats or (2 if args.quick else 5)
    budget = args.budget if args.budget is not None else (2.0 if args.quick else 10.0)
    errors, timings, seconds = {}, {}, {}
    image, trimap, speed_source = speed_inputs(datasets)
    if "predict" in args.stages:
        start = time.perf_counter()
        errors = run_predictions(methods, datasets, cache, threads=max(args.threads), progress=progress)
        seconds["predict"] = time.perf_counter() - start
    if "speed" in args.stages:
        start = time.perf_counter()
        sides = speed.QUICK_SCALING_SIDES if args.quick else speed.SCALING_SIDES
        scaling = default_scaling(methods) if args.scaling is None else args.scaling
        timings = speed.run_speed(methods, image, trimap, out / "cache" / "speed", args.threads, repeats, budget,
                                  scaling, sides, progress)
        seconds["speed"] = time.perf_counter() - start
    failed = bool(errors) or any("error" in r for t in timings.values() for r in t.values())
    if "report" not in args.stages:
        return 1 if failed else 0
    meta = {"command": "python -m benchmarks.run " + shlex.join(sys.argv[1:] if args.argv is None else args.argv),
            "machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick,
            "conventions": CONVENTIONS, "threads": args.threads, "repeats": repeats, "budget_s": budget,
            "speed_image": speed_source, "stage_seconds": seconds,
            "datasets": {d.name: {"task": d.task, "images": len(d.stems)} for d in datasets}}
    start = time.perf_counter()
    results = {"meta": meta, "methods": described, **quality.score_all(datasets, methods, cache),
               "speed": timings or speed.cached_speed(methods, out / "cache" / "speed", args.threads),
               "errors": errors}
    seconds["score"] = time.perf_counter() - start
    write_outputs(results, datasets, methods, cache, out)
    failed = failed or any("error" in r for t in results["speed"].values() for r in t.values())
    rows = [r for key in ("table1", "table2", "segmentation")
            for t in results[key].values() for r in t["rows"].values()]
    return 1 if failed or any(r.get("error") or r.get("failed") for r in rows) else 0


def write_outputs(results, datasets, methods, cache, out: Path) -> None:
    """The figures, results.json and report.md."""
    figures = []
    for name, draw in (("quality_vs_latency.png", lambda p: plots.quality_vs_latency(results, p)),
                       ("latency_vs_size.png", lambda p: plots.latency_vs_size(results, p)),
                       ("contact_sheet.png", lambda p: plots.contact_sheet(datasets, methods, cache, p))):
        if draw(out / name):
            figures.append(name)
    results["meta"]["figures"] = figures
    write_bytes_atomic(out / "results.json", (json.dumps(results, indent=2) + "\n").encode())
    report.write_report(results, out / "report.md")
    print(f"wrote {out / 'results.json'}, {out / 'report.md'}" + "".join(f", {out / f}" for f in figures))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    args.argv = argv
    return args


def main(argv: list[str] | None = None, methods=None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        return run(args, methods)
    except (SetupError, SelectionError, EvalError, PeerFileError, ModelError, FileNotFoundError) as e:
        print(f"benchmarks.run: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
