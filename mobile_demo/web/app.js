// The page: LiteRT.js (WASM files served from node_modules, no CDN) runs the exported .tflite on a photo or
// webcam frames; matte.js does the pixel maths. `window.alphanet` exposes the last result to the page test.
//
// URL options: ?model=URL (default model.tflite, which serve.mjs maps to dist/alphanet_int8_ptq.tflite),
// ?threads=N (default: up to 4 on a cross-origin-isolated page, else 1).

import {Tensor, loadAndCompile, loadLiteRt} from '@litertjs/core';
import {compositePixels, cutoutPixels, guidedUpsample, letterbox, rgbOf} from './matte.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const MODEL_URL = params.get('model') ?? 'model.tflite';
const THREADS = Number(params.get('threads') ?? (self.crossOriginIsolated
  ? Math.min(4, navigator.hardwareConcurrency || 1) : 1));
const MAX_CAMERA_SIDE = 640;

let model, size, inputDtype, last = null, frame = null, cameraOn = false;

function setState(state, message) {
  document.body.dataset.state = state;
  $('status').textContent = message;
}

async function init() {
  const wasmDir = new URL('./node_modules/@litertjs/core/wasm/', location.href).href;
  await loadLiteRt(wasmDir, {threads: THREADS > 1});
  model = await loadAndCompile(MODEL_URL, {accelerator: 'wasm', cpuOptions: {numThreads: THREADS}});
  const [input] = model.getInputDetails();
  [, size] = input.shape;
  inputDtype = input.dtype;
  await runModel(new Uint8Array(size * size * 3)); // warm-up: the first run also plans the graph
  setState('ready', `model ready: ${size}x${size} ${inputDtype} input, ${THREADS} thread(s); pick a photo`);
}

/** Runs the network on a letterboxed S x S x 3 uint8 image -> {alpha Float32Array S*S, ms}. */
async function runModel(boxed) {
  // uint8 input: the exporter pins its quantization to scale 1, zero point 0 (the raw pixels).
  const data = inputDtype === 'uint8' ? boxed : Float32Array.from(boxed);
  const input = new Tensor(data, [1, size, size, 3]);
  const start = performance.now();
  const outputs = await model.run([input]);
  const ms = performance.now() - start;
  input.delete();
  // By name, like the Python runner: 'alpha', else the first name in sorted order.
  const names = model.getOutputDetails().map((d) => d.name);
  const index = names.indexOf(names.includes('alpha') ? 'alpha' : [...names].sort()[0]);
  const alpha = Float32Array.from(await outputs[index].data());
  outputs.forEach((t) => t.delete());
  return {alpha, ms};
}

/** Mattes RGBA pixels h x w: letterbox, run, crop, guided upsample. */
async function matte(rgba, h, w) {
  const start = performance.now();
  const rgb = rgbOf(rgba, h, w);
  const {boxed, small, rh, rw} = letterbox(rgb, h, w, size);
  const {alpha: full, ms} = await runModel(boxed);
  const crop = new Float32Array(rh * rw);
  for (let y = 0; y < rh; y++) crop.set(full.subarray(y * size, y * size + rw), y * rw);
  const alpha = guidedUpsample(crop, small, rh, rw, rgb, h, w);
  return {rgb, alpha, width: w, height: h, inferenceMs: ms, totalMs: performance.now() - start};
}

function checkerboard(ctx, w, h, cell = 16) {
  for (let y = 0; y < h; y += cell) {
    for (let x = 0; x < w; x += cell) {
      ctx.fillStyle = ((x + y) / cell) % 2 ? '#cccccc' : '#ffffff';
      ctx.fillRect(x, y, cell, cell);
    }
  }
}

function hexColor(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

function render(result) {
  const {rgb, alpha, width: w, height: h} = result;
  const layer = new OffscreenCanvas(w, h);
  layer.getContext('2d').putImageData(new ImageData(cutoutPixels(rgb, alpha, h, w), w, h), 0, 0);
  const cut = $('cutout');
  [cut.width, cut.height] = [w, h];
  const ctx = cut.getContext('2d');
  checkerboard(ctx, w, h);
  ctx.drawImage(layer, 0, 0);
  const comp = $('composite');
  [comp.width, comp.height] = [w, h];
  comp.getContext('2d').putImageData(new ImageData(compositePixels(rgb, alpha, h, w, hexColor($('color').value)), w, h), 0, 0);
}

function report(result, prefix = '') {
  setState('done', `${prefix}${result.width}x${result.height}: inference ${result.inferenceMs.toFixed(1)} ms, ` +
    `total ${result.totalMs.toFixed(1)} ms (${THREADS} thread(s))`);
}

async function onPhoto(file) {
  cameraOn = false;
  setState('busy', `matting ${file.name}...`);
  // No colour conversion: the page must see the same pixels as OpenCV's decoder.
  const bitmap = await createImageBitmap(file, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(bitmap, 0, 0);
  const {data} = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  last = await matte(data, bitmap.height, bitmap.width);
  render(last);
  report(last, `${file.name} `);
}

async function cameraLoop(video) {
  const scale = Math.min(1, MAX_CAMERA_SIDE / Math.max(video.videoWidth, video.videoHeight));
  const w = Math.round(video.videoWidth * scale), h = Math.round(video.videoHeight * scale);
  const ctx = new OffscreenCanvas(w, h).getContext('2d', {willReadFrequently: true});
  while (cameraOn) {
    ctx.drawImage(video, 0, 0, w, h);
    last = await matte(ctx.getImageData(0, 0, w, h).data, h, w);
    render(last);
    report(last, `webcam ${(1000 / last.totalMs).toFixed(1)} FPS, `);
    await new Promise(requestAnimationFrame);
  }
  video.srcObject.getTracks().forEach((t) => t.stop());
  $('camera').textContent = 'Use the webcam';
}

async function onCamera() {
  if (cameraOn) { cameraOn = false; return; }
  const video = $('video');
  video.srcObject = await navigator.mediaDevices.getUserMedia({video: true, audio: false});
  await video.play();
  cameraOn = true;
  $('camera').textContent = 'Stop the webcam';
  cameraLoop(video);
}

function fail(e) {
  console.error(e);
  setState('error', `error: ${e.message ?? e}`);
}

/** Little-endian float32 bytes of the last alpha, base64 (the page test reads it back). */
function alphaBase64() {
  const bytes = new Uint8Array(last.alpha.buffer, last.alpha.byteOffset, last.alpha.byteLength);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

window.alphanet = {
  get last() { return last && {width: last.width, height: last.height, inferenceMs: last.inferenceMs, totalMs: last.totalMs}; },
  alphaBase64,
  threads: THREADS,
};
$('photo').addEventListener('change', (e) => e.target.files[0] && onPhoto(e.target.files[0]).catch(fail));
$('camera').addEventListener('click', () => onCamera().catch(fail));
$('color').addEventListener('input', () => last && render(last));
init().catch(fail);
