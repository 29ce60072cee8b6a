"""results.json -> report.md: the tables in markdown. Reads only the results dict, so a report can be
rebuilt from a saved results.json (``python -m benchmarks.report OUT/results.json``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from alphanet_tf.metrics import MATTING_KEYS
from benchmarks.speed import PEAK_GFLOPS, SPEED_SIDE

MATTING_HEADERS = {"sad": "SAD", "mse": "MSE", "grad": "Grad", "conn": "Conn"}


def fmt(value, digits: int = 4) -> str:
    """Numbers with `digits` significant digits, missing values as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def markdown_table(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _notes(info: dict, result: dict) -> str:
    notes = []
    if info.get("people_only"):
        notes.append("people only")
    if result.get("error"):
        notes.append(result["error"])
    if result.get("failed"):
        notes.append(f"{len(result['failed'])} failed")
    return "; ".join(notes)


def table1(results: dict) -> str:
    parts = []
    for ds, table in results["table1"].items():
        rows = []
        for slug, r in table["rows"].items():
            info = results["methods"][slug]
            mean, pp = r.get("mean", {}), r.get("per_pixel_mean", {})
            rows.append([info["name"], *(mean.get(k) for k in MATTING_KEYS), *(pp.get(k) for k in MATTING_KEYS),
                         r.get("count", 0), _notes(info, r)])
        headers = ["method", *(MATTING_HEADERS[k] for k in MATTING_KEYS),
                   *(f"{MATTING_HEADERS[k]}/px" for k in MATTING_KEYS), "n", "notes"]
        parts.append(f"### {ds} ({table['images']} images, whole image)\n\n" + markdown_table(headers, rows))
    return "\n\n".join(parts)


def table2(results: dict) -> str:
    parts = []
    for ds, table in results["table2"].items():
        rows = []
        for slug, r in table["rows"].items():
            info = results["methods"][slug]
            name = info["name"] + (" (given trimap)" if info["kind"] == "automatic" else "")
            rows.append([name, *(r.get("mean", {}).get(k) for k in MATTING_KEYS), r.get("count", 0),
                         _notes(info, r)])
        frac = table.get("unknown_fraction")
        band = f", unknown band {100 * frac:.1f} % of the pixels" if frac is not None else ""
        headers = ["method", *(MATTING_HEADERS[k] for k in MATTING_KEYS), "n", "notes"]
        parts.append(f"### {ds} ({table['images']} images, unknown region{band})\n\n" + markdown_table(headers, rows))
    return "\n\n".join(parts)


def segmentation(results: dict) -> str:
    parts = []
    for ds, table in results["segmentation"].items():
        rows = []
        for row_id, r in table["rows"].items():
            slug, _, output = row_id.partition(":")
            info = results["methods"][slug]
            shown = output or ("segmentation" if f"{slug}:alpha" in table["rows"] else "alpha")
            mean = r.get("mean", {})
            rows.append([info["name"], shown, mean.get("iou"), mean.get("f_measure"), mean.get("mae"),
                         r.get("count", 0), _notes(info, r)])
        headers = ["method", "map", "IoU", "F (β²=0.3)", "MAE", "n", "notes"]
        parts.append(f"### {ds} ({table['images']} images)\n\n" + markdown_table(headers, rows))
    return "\n\n".join(parts)


def speed_rows(results: dict) -> list[dict]:
    """One row per (method, mode, threads), with the derived GFLOP/s and fraction of peak."""
    rows = []
    for slug, per_threads in results.get("speed", {}).items():
        info = results["methods"][slug]
        costs = next((r.get("cost") for r in per_threads.values() if r.get("cost")), {}) or {}
        for threads, r in per_threads.items():
            if "error" in r:
                rows.append({"slug": slug, "name": info["name"], "threads": int(threads), "error": r["error"]})
                continue
            for mode, lat in r.get("latency", {}).items():
                cost = costs.get(mode, {}) or {}
                at512 = lat.get(str(SPEED_SIDE), {})
                native = lat.get("native", {})
                gflops, ms = cost.get("gflops"), at512.get("median_ms")
                rate = gflops / (ms / 1e3) if gflops and ms else None
                name = info["name"] + (" (given trimap)" if mode == "trimap" and info["kind"] == "automatic" else "")
                rows.append({
                    "slug": slug, "name": name, "mode": mode, "threads": int(threads), "runtime": info["runtime"],
                    "ms_512": ms, "ms_native": native.get("median_ms"),
                    "native_size": "x".join(str(v) for v in native.get("size", [])[::-1]) or None,
                    "gflops": gflops, "gflop_s": rate,
                    "peak_pct": 100 * rate / PEAK_GFLOPS[int(threads)] if rate and int(threads) in PEAK_GFLOPS
                    else None,
                    "params_m": (cost.get("params") or info.get("params") or 0) / 1e6 or None,
                    "file_mb": info.get("file_mb"), "peak_rss_mb": r.get("peak_rss_mb"), "runs": at512.get("runs")})
    return rows


def speed(results: dict) -> str:
    headers = ["method", "runtime", "threads", f"{SPEED_SIDE}² ms", "native ms", "native size", f"GFLOPs@{SPEED_SIDE}",
               "GFLOP/s", "% of peak", "params (M)", "file (MB)", "peak RSS (MB)", "runs", "notes"]
    rows = []
    for r in speed_rows(results):
        if "error" in r:
            error = r["error"] if len(r["error"]) <= 160 else r["error"][:157] + "..."
            rows.append([r["name"], "", r["threads"], *([None] * 10), error.replace("|", "/")])
            continue
        rows.append([r["name"], r["runtime"], r["threads"], r["ms_512"], r["ms_native"], r["native_size"],
                     r["gflops"], r["gflop_s"], r["peak_pct"], r["params_m"], r["file_mb"], r["peak_rss_mb"],
                     r["runs"], ""])
    return markdown_table(headers, rows)


def scaling(results: dict) -> str:
    sides = sorted({int(s) for per in results.get("speed", {}).values() for r in per.values()
                    for s in r.get("scaling", {})})
    if not sides:
        return "(no scaling run)"
    rows = []
    for slug, per_threads in results["speed"].items():
        for threads, r in per_threads.items():
            if r.get("scaling"):
                rows.append([results["methods"][slug]["name"], int(threads),
                             *(r["scaling"].get(str(s), {}).get("median_ms") for s in sides)])
    return markdown_table(["method", "threads", *(f"{s} px" for s in sides)], rows)


def render(results: dict) -> str:
    meta = results["meta"]
    smoke = "\n> **Smoke run** (`--quick`: 2 images per set, few repeats): not results.\n" if meta.get("quick") else ""
    figures = "\n".join(f"- `{name}`" for name in meta.get("figures", [])) or "(none)"
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in meta.get("stage_seconds", {}).items()) or "–"
    return f"""# alphanet_tf benchmarks
{smoke}
- command: `{meta['command']}`
- machine: {meta['machine']}; {meta['when']}; wall time of this invocation: {stages}
- speed image: `{meta.get('speed_image', '–')}`
- conventions: {meta['conventions']}
- latency: median of one `predict` call (pre-processing, inference, resize back) after a warm-up;
  GFLOPs = 2 x multiply-adds of convolutions and matmuls of that call at {SPEED_SIDE}x{SPEED_SIDE};
  % of peak against {PEAK_GFLOPS[1]:.0f} GFLOP/s (1 thread) / {PEAK_GFLOPS[2]:.0f} (2 threads)

## Table I: automatic matting

{table1(results) or '(no matting set)'}

## Table II: given trimaps

{table2(results) or '(no trimaps)'}

## Segmentation (map >= 0.5 is foreground)

{segmentation(results) or '(no mask sets)'}

## Speed

{speed(results) if results.get('speed') else '(speed not measured)'}

### Latency (ms) vs long side

{scaling(results)}

## Figures

{figures}
"""


def write_report(results: dict, path) -> None:
    Path(path).write_text(render(results))


if __name__ == "__main__":
    source = Path(sys.argv[1])
    write_report(json.loads(source.read_text()), source.with_name("report.md"))
