// Pixel maths of the page: letterbox, guided upsampling, compositing.
//
// It mirrors mobile_demo/lite_matter.py step for step (OpenCV's INTER_AREA / INTER_LINEAR conventions,
// reflect-101 borders, the same guided filter), because the page test holds the page's alpha within
// 2/255 of the Python runner's on the same image and model. No dependencies: plain typed arrays.

/** Python's round() (half to even), so both runners pick the same letterbox size. */
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** (rh, rw) of an h x w image fitted into S x S, aspect kept. */
export function letterboxSize(h, w, size) {
  const scale = Math.min(size / h, size / w);
  return {
    rh: Math.min(size, Math.max(1, roundHalfEven(h * scale))),
    rw: Math.min(size, Math.max(1, roundHalfEven(w * scale))),
    shrink: scale < 1,
  };
}

/** OpenCV's reflect-101 border index (edge pixel not repeated), also for pads larger than the image. */
function reflect101(p, n) {
  if (n === 1) return 0;
  while (p < 0 || p >= n) p = p < 0 ? -p : 2 * (n - 1) - p;
  return p;
}

/** Per output index, [source index, weight] taps of cv2's INTER_AREA when shrinking n -> m. */
function areaTaps(n, m) {
  const scale = 1 / (m / n); // as cv2 computes it, so the tap boundaries fall on the same side
  const taps = [];
  for (let d = 0; d < m; d++) {
    const f1 = d * scale, f2 = f1 + scale, cell = Math.min(scale, n - f1);
    let s2 = Math.min(Math.floor(f2), n - 1);
    const s1 = Math.min(Math.ceil(f1), s2);
    const t = [];
    if (s1 - f1 > 1e-3) t.push([s1 - 1, (s1 - f1) / cell]);
    for (let s = s1; s < s2; s++) t.push([s, 1 / cell]);
    if (f2 - s2 > 1e-3) t.push([s2, Math.min(f2 - s2, 1, cell) / cell]);
    taps.push(t);
  }
  return taps;
}

/** Per output index, the two taps of cv2's INTER_LINEAR (half-pixel centres, clamped at the borders). */
function linearTaps(n, m) {
  const scale = 1 / (m / n);
  const taps = [];
  for (let d = 0; d < m; d++) {
    let f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) { s = 0; f = 0; }
    if (s >= n - 1) { s = n - 1; f = 0; }
    taps.push(f === 0 ? [[s, 1]] : [[s, 1 - f], [s + 1, f]]);
  }
  return taps;
}

/** Taps flattened into typed arrays (no per-pixel allocation in the loops): {start, index, weight}. */
function flatTaps(taps) {
  const start = new Int32Array(taps.length + 1);
  taps.forEach((t, d) => { start[d + 1] = start[d] + t.length; });
  const index = new Int32Array(start[taps.length]), weight = new Float64Array(start[taps.length]);
  taps.flat().forEach(([s, wt], k) => { index[k] = s; weight[k] = wt; });
  return {start, index, weight};
}

/** Separable resize of an interleaved h x w x c array with per-axis taps -> Float64Array. */
function resampleWith(src, h, w, c, dh, dw, tapsFor) {
  const tx = flatTaps(tapsFor(w, dw)), ty = flatTaps(tapsFor(h, dh));
  const rows = new Float64Array(h * dw * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < dw; x++) {
      const o = (y * dw + x) * c;
      for (let k = tx.start[x]; k < tx.start[x + 1]; k++) {
        const i = (y * w + tx.index[k]) * c, wt = tx.weight[k];
        for (let ch = 0; ch < c; ch++) rows[o + ch] += wt * src[i + ch];
      }
    }
  }
  const out = new Float64Array(dh * dw * c), n = dw * c;
  for (let y = 0; y < dh; y++) {
    for (let k = ty.start[y]; k < ty.start[y + 1]; k++) {
      const i = ty.index[k] * n, o = y * n, wt = ty.weight[k];
      for (let j = 0; j < n; j++) out[o + j] += wt * rows[i + j];
    }
  }
  return out;
}

export const resizeArea = (src, h, w, c, dh, dw) => resampleWith(src, h, w, c, dh, dw, areaTaps);
export const resizeLinear = (src, h, w, c, dh, dw) => resampleWith(src, h, w, c, dh, dw, linearTaps);

/** RGBA ImageData pixels -> interleaved RGB Uint8Array. */
export function rgbOf(rgba, h, w) {
  const rgb = new Uint8Array(h * w * 3);
  for (let i = 0, j = 0; i < h * w * 4; i += 4, j += 3) {
    rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}

/** Fits RGB h x w into S x S like lite_matter.letterbox: {boxed S*S*3 uint8, small rh*rw*3 uint8, rh, rw}. */
export function letterbox(rgb, h, w, size) {
  const {rh, rw, shrink} = letterboxSize(h, w, size);
  let small = rgb;
  if (rh !== h || rw !== w) {
    const f = (shrink ? resizeArea : resizeLinear)(rgb, h, w, 3, rh, rw);
    small = new Uint8Array(f.length);
    for (let i = 0; i < f.length; i++) small[i] = Math.min(255, Math.max(0, roundHalfEven(f[i])));
  }
  const boxed = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const sy = reflect101(y, rh);
    for (let x = 0; x < size; x++) {
      const i = (sy * rw + reflect101(x, rw)) * 3, o = (y * size + x) * 3;
      boxed[o] = small[i]; boxed[o + 1] = small[i + 1]; boxed[o + 2] = small[i + 2];
    }
  }
  return {boxed, small, rh, rw};
}

/** Normalised (2r+1)^2 box mean of an h x w x c array, reflect-101 borders (cv2.boxFilter). */
function boxMean(src, h, w, c, r) {
  const n = 2 * r + 1, rows = new Float64Array(src.length), out = new Float64Array(src.length);
  // Horizontal: away from the borders a tap is the same line shifted by d pixels (fast, contiguous).
  const lo = Math.min(r, w), hi = Math.max(lo, w - r);
  for (let d = -r; d <= r; d++) {
    for (let y = 0; y < h; y++) {
      const o = y * w * c;
      for (let j = o + lo * c, shift = d * c; j < o + hi * c; j++) rows[j] += src[j + shift];
      for (let x = 0; x < w; x++) {
        if (x >= lo && x < hi) { x = hi - 1; continue; }
        const i = o + reflect101(x + d, w) * c;
        for (let k = 0; k < c; k++) rows[o + x * c + k] += src[i + k];
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let d = -r; d <= r; d++) {
      const i = reflect101(y + d, h) * w * c, o = y * w * c;
      for (let j = 0; j < w * c; j++) out[o + j] += rows[i + j];
    }
  }
  for (let j = 0; j < out.length; j++) out[j] /= n * n;
  return out;
}

/** Guided-filter coefficients (He et al.) of alpha against the image the network saw: {a (3 ch), b}. */
function guidedCoefficients(guide, alpha, h, w, r = 2, eps = 1e-3) {
  // One 13-channel box pass: I (3), p, I*p (3), the 6 distinct entries of I I^T (00 01 02 11 12 22).
  const stack = new Float64Array(h * w * 13);
  for (let i = 0; i < h * w; i++) {
    const r0 = guide[3 * i] / 255, g0 = guide[3 * i + 1] / 255, b0 = guide[3 * i + 2] / 255, p = alpha[i];
    const o = 13 * i;
    stack[o] = r0; stack[o + 1] = g0; stack[o + 2] = b0; stack[o + 3] = p;
    stack[o + 4] = r0 * p; stack[o + 5] = g0 * p; stack[o + 6] = b0 * p;
    stack[o + 7] = r0 * r0; stack[o + 8] = r0 * g0; stack[o + 9] = r0 * b0;
    stack[o + 10] = g0 * g0; stack[o + 11] = g0 * b0; stack[o + 12] = b0 * b0;
  }
  const m = boxMean(stack, h, w, 13, r);
  const ab = new Float64Array(h * w * 4);
  for (let i = 0; i < h * w; i++) {
    const o = 13 * i, m0 = m[o], m1 = m[o + 1], m2 = m[o + 2], mp = m[o + 3];
    const x = m[o + 4] - m0 * mp, y = m[o + 5] - m1 * mp, z = m[o + 6] - m2 * mp;
    // Covariance of the guide (+ eps on the diagonal), then its inverse by cofactors.
    const s00 = m[o + 7] - m0 * m0 + eps, s01 = m[o + 8] - m0 * m1, s02 = m[o + 9] - m0 * m2;
    const s11 = m[o + 10] - m1 * m1 + eps, s12 = m[o + 11] - m1 * m2, s22 = m[o + 12] - m2 * m2 + eps;
    const c00 = s11 * s22 - s12 * s12, c01 = s02 * s12 - s01 * s22, c02 = s01 * s12 - s02 * s11;
    const c11 = s00 * s22 - s02 * s02, c12 = s01 * s02 - s00 * s12, c22 = s00 * s11 - s01 * s01;
    const det = s00 * c00 + s01 * c01 + s02 * c02;
    const a0 = (c00 * x + c01 * y + c02 * z) / det;
    const a1 = (c01 * x + c11 * y + c12 * z) / det;
    const a2 = (c02 * x + c12 * y + c22 * z) / det;
    const q = 4 * i;
    ab[q] = a0; ab[q + 1] = a1; ab[q + 2] = a2; ab[q + 3] = mp - a0 * m0 - a1 * m1 - a2 * m2;
  }
  return boxMean(ab, h, w, 4, r);
}

/** Alpha at the network's resolution (rh x rw) -> the frame's (h x w), edge-aware: Float32Array. */
export function guidedUpsample(alphaSmall, small, rh, rw, rgb, h, w) {
  const out = new Float32Array(h * w);
  if (rh === h && rw === w) {
    for (let i = 0; i < h * w; i++) out[i] = Math.min(1, Math.max(0, alphaSmall[i]));
    return out;
  }
  const ab = resizeLinear(guidedCoefficients(small, alphaSmall, rh, rw), rh, rw, 4, h, w);
  for (let i = 0; i < h * w; i++) {
    const v = ab[4 * i] * rgb[3 * i] / 255 + ab[4 * i + 1] * rgb[3 * i + 1] / 255
      + ab[4 * i + 2] * rgb[3 * i + 2] / 255 + ab[4 * i + 3];
    out[i] = Math.min(1, Math.max(0, v));
  }
  return out;
}

/** RGBA pixels of the cut-out (alpha channel = the matte). */
export function cutoutPixels(rgb, alpha, h, w) {
  const px = new Uint8ClampedArray(h * w * 4);
  for (let i = 0; i < h * w; i++) {
    px[4 * i] = rgb[3 * i]; px[4 * i + 1] = rgb[3 * i + 1]; px[4 * i + 2] = rgb[3 * i + 2];
    px[4 * i + 3] = alpha[i] * 255 + 0.5;
  }
  return px;
}

/** RGBA pixels of the image over a solid colour [r, g, b]. */
export function compositePixels(rgb, alpha, h, w, color) {
  const px = new Uint8ClampedArray(h * w * 4);
  for (let i = 0; i < h * w; i++) {
    const a = alpha[i];
    for (let k = 0; k < 3; k++) px[4 * i + k] = rgb[3 * i + k] * a + color[k] * (1 - a) + 0.5;
    px[4 * i + 3] = 255;
  }
  return px;
}
