"""Latency, peak memory and cost of every method, each (method, thread count) in a fresh worker process.

A process per thread count because TensorFlow fixes its thread pools at start (and numba, BLAS and OpenMP
read theirs from the environment), and per method because peak memory (`ru_maxrss`) is per process. One
call = the method's whole `predict` on a uint8 image: pre-processing, inference and resizing back.

    python -m benchmarks.speed REQUEST.json     # the worker; `benchmarks.run` writes the request

Inputs: the first image of the matting set, centre-cropped and resized to 512x512 ("512") and at its own
size ("native"), with its trimap for trimap modes. Timing: warm-up calls, then up to `repeats` calls, at
least 3 (or `repeats` if fewer), stopping early once `budget_s` seconds are spent: a 4 s IS-Net call does
not need 5 repeats to give a stable median. Results are cached per (method, threads) under
``OUT/cache/speed/`` and reused while fingerprint, inputs, repeats and scaling sizes match.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from alphanet_tf.imageio import cover, write_bytes_atomic
from alphanet_tf.trimap import quantize as quantize_trimap
from benchmarks.methods import AUTO, TRIMAP, build

PEAK_GFLOPS = {1: 200.0, 2: 380.0}  # fp32 matmul peak of the 2-core machine, DESIGN.md section 5
SPEED_SIDE = 512
SCALING_SIDES = (256, 512, 768, 1024, 1536, 2048)
QUICK_SCALING_SIDES = (256, 512, 1024)
MIN_REPEATS = 3
REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER_TIMEOUT_S = 3600


# ----------------------------------------------------------------------------------- measuring (worker side)
def time_calls(fn, repeats: int, budget_s: float, warmup: int = 1) -> dict:
    """Median and min wall time of `fn()` in ms after `warmup` calls (see the module docstring)."""
    for _ in range(warmup):
        fn()
    times = []
    while len(times) < repeats:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if len(times) >= min(MIN_REPEATS, repeats) and sum(times) >= budget_s:
            break
    return {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times), "runs": len(times)}


def square_inputs(image, trimap, side: int = SPEED_SIDE):
    """The image (and trimap) centre-cropped and resized to side x side."""
    small = cover(image, (side, side))
    tri = None if trimap is None else quantize_trimap(cover(np.asarray(trimap, np.float32), (side, side)))
    return small, tri


def long_side(image, side: int):
    """The image resized (aspect kept) so its long side is `side`."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024  # kB


def current_rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not `getrusage().ru_maxrss`: Linux carries the high-water mark
    over `execve`, so a worker would report at least the RSS of the (forked) parent; VmHWM is the
    worker's own address space."""
    try:
        return _status_mb("VmHWM")
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(method, image, trimap, threads: int, repeats: int, budget_s: float, scaling=(), with_cost=False):
    """Everything the speed table needs of one method at one thread count (runs in the worker)."""
    result = {"threads": threads, "rss_before_load_mb": current_rss_mb()}
    start = time.perf_counter()
    method.load(threads)
    cv2.setNumThreads(threads)  # after the imports: training.data sets it to 1 for its data workers
    result["load_s"] = time.perf_counter() - start
    result["rss_loaded_mb"] = current_rss_mb()
    inputs = {str(SPEED_SIDE): square_inputs(image, trimap), "native": (image, trimap)}
    latency = {}
    for mode in method.modes:
        if mode == TRIMAP and trimap is None:
            continue
        for label, (img, tri) in inputs.items():
            t = tri if mode == TRIMAP else None
            latency.setdefault(mode, {})[label] = {
                **time_calls(lambda: method.predict(img, t), repeats, budget_s), "size": list(img.shape[:2])}
    result["latency"] = latency
    result["peak_rss_mb"] = peak_rss_mb()
    if scaling and AUTO in method.modes:
        result["scaling"] = {}
        for side in scaling:
            img = long_side(image, side)
            result["scaling"][str(side)] = {**time_calls(lambda: method.predict(img), repeats, budget_s),
                                            "size": list(img.shape[:2])}
    if with_cost:
        result["cost"] = {}
        img, tri = inputs[str(SPEED_SIDE)]
        for mode in latency:
            try:
                result["cost"][mode] = method.cost(img, tri if mode == TRIMAP else None)
            except Exception as e:  # noqa: BLE001 - FLOPs are "where computable"
                result["cost"][mode] = {"gflops": None, "params": None, "error": " ".join(str(e).split())[:200]}
    return result


def worker_main(request_path) -> int:
    request = json.loads(Path(request_path).read_text())
    image = np.load(request["image"])
    trimap = np.load(request["trimap"]) if request.get("trimap") else None
    method = build(request["spec"])
    result = measure(method, image, trimap, request["threads"], request["repeats"], request["budget_s"],
                     request.get("scaling", ()), request.get("cost", False))
    result.update({k: request[k] for k in ("fingerprint", "inputs_key", "repeats", "budget_s")})
    result["scaling_sides"] = list(request.get("scaling", ()))
    write_bytes_atomic(request["out"], (json.dumps(result, indent=2) + "\n").encode())
    return 0


# ----------------------------------------------------------------------------------- orchestration (runner side)
def save_inputs(folder: Path, image, trimap) -> dict:
    """Writes the speed image (and trimap) as .npy once; returns their paths and a key of their content."""
    folder.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256(np.ascontiguousarray(image).tobytes())
    paths = {"image": str(folder / "image.npy"), "trimap": None}
    np.save(paths["image"], image)
    if trimap is not None:
        h.update(np.ascontiguousarray(trimap, np.float32).tobytes())
        paths["trimap"] = str(folder / "trimap.npy")
        np.save(paths["trimap"], np.asarray(trimap, np.float32))
    return {**paths, "inputs_key": h.hexdigest()[:16]}


def _cached(path: Path, request: dict):
    if not path.is_file():
        return None
    old = json.loads(path.read_text())
    same = (old.get("fingerprint") == request["fingerprint"] and old.get("inputs_key") == request["inputs_key"]
            and old.get("repeats", 0) >= request["repeats"] and old.get("budget_s", 0) >= request["budget_s"]
            and old.get("scaling_sides", []) == list(request["scaling"]) and (old.get("cost") or not request["cost"]))
    return old if same else None


def worker_env(threads: int) -> dict:
    n = str(threads)
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
            "MKL_NUM_THREADS": n, "NUMBA_NUM_THREADS": n, "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_worker(request: dict, folder: Path) -> dict:
    """Runs one worker; returns its result, or {"error": last line of its stderr}."""
    tag = f"t{request['threads']}"
    req_path, log_path = folder / f"{tag}.request.json", folder / f"{tag}.log"
    req_path.write_text(json.dumps(request, indent=2) + "\n")
    start = time.perf_counter()
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run([sys.executable, "-m", "benchmarks.speed", str(req_path)], env=worker_env(
                request["threads"]), stdout=log, stderr=subprocess.STDOUT, timeout=WORKER_TIMEOUT_S, check=False)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    if code == 0 and Path(request["out"]).is_file():
        result = json.loads(Path(request["out"]).read_text())
        result["worker_wall_s"] = time.perf_counter() - start  # start-up and imports included
        write_bytes_atomic(request["out"], (json.dumps(result, indent=2) + "\n").encode())
        return result
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    return {"error": f"worker exit {code}: {lines[-1] if lines else 'no output'} (log: {log_path})"}


def run_speed(methods, image, trimap, folder, threads=(1, 2), repeats=5, budget_s=10.0, scaling=None,
              scaling_sides=SCALING_SIDES, progress=True) -> dict:
    """{slug: {threads: result}} for every method (cached results reused). `scaling`: slugs to time at
    every long side of `scaling_sides` too."""
    from tqdm import tqdm

    folder = Path(folder)
    inputs = save_inputs(folder / "inputs", image, trimap)
    jobs = [(m, t) for m in methods for t in threads]
    results = {}
    bar = tqdm(jobs, desc="speed", unit="run", disable=not progress)
    for method, t in bar:
        bar.set_postfix_str(f"{method.slug} x{t}")
        out = folder / method.slug
        out.mkdir(parents=True, exist_ok=True)
        request = {"spec": method.spec(), "threads": t, "repeats": repeats, "budget_s": budget_s,
                   "fingerprint": method.fingerprint(), "inputs_key": inputs["inputs_key"],
                   "image": inputs["image"], "trimap": inputs["trimap"],
                   "scaling": list(scaling_sides) if method.slug in (scaling or ()) else [],
                   "cost": t == min(threads), "out": str(out / f"t{t}.json")}
        result = _cached(out / f"t{t}.json", request) or run_worker(request, out)
        if "error" in result:
            tqdm.write(f"benchmarks: speed {method.slug} x{t}: {result['error']}", file=sys.stderr)
        results.setdefault(method.slug, {})[str(t)] = result
    return results


def cached_speed(methods, folder, threads) -> dict:
    """The speed results already on disk (for a report without the speed stage)."""
    results = {}
    for m in methods:
        for t in threads:
            path = Path(folder) / m.slug / f"t{t}.json"
            if path.is_file():
                results.setdefault(m.slug, {})[str(t)] = json.loads(path.read_text())
    return results


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
