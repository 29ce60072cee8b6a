// Drives the demo page in headless Chromium (Playwright): serve it on 127.0.0.1, pick an image, read back
// the alpha the page computed and a screenshot. tests/test_mobile_demo.py calls this and compares the
// alpha with the Python runner's.
//
//   node test/page_test.mjs --model M.tflite --image photo.jpg --out DIR [--chromium /usr/bin/chromium]
//                           [--threads N] [--timeout-ms MS]
//
// Writes DIR/alpha.f32 (little-endian float32, H x W), DIR/result.json and DIR/page.png.
// Exit 0 on success, 1 with a one-line error otherwise.

import fs from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';
import {startServer} from '../serve.mjs';

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback === undefined) throw new Error(`missing ${name}`);
  return fallback;
}

async function main() {
  const model = path.resolve(option('--model')), image = path.resolve(option('--image'));
  const out = path.resolve(option('--out')), executablePath = option('--chromium', '/usr/bin/chromium');
  const timeout = Number(option('--timeout-ms', 180000)), threads = option('--threads', '');
  fs.mkdirSync(out, {recursive: true});
  const {server, url} = await startServer({model, port: 0});
  // Playwright makes a fresh temporary profile (--user-data-dir) for every launch.
  const browser = await chromium.launch({executablePath, args: CHROMIUM_FLAGS, timeout});
  try {
    const page = await browser.newPage({viewport: {width: 1400, height: 900}});
    page.on('console', (m) => console.error(`[page ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
    await page.goto(threads ? `${url}?threads=${threads}` : url);
    const state = () => page.evaluate(() => [document.body.dataset.state, document.getElementById('status').textContent]);
    const waitFor = async (wanted) => {
      await page.waitForFunction((w) => [w, 'error'].includes(document.body.dataset.state), wanted, {timeout});
      const [s, text] = await state();
      if (s === 'error') throw new Error(`page: ${text}`);
    };
    await waitFor('ready');
    await page.setInputFiles('#photo', image);
    await waitFor('done');
    const result = await page.evaluate(() => ({...window.alphanet.last, threads: window.alphanet.threads,
      crossOriginIsolated: self.crossOriginIsolated, status: document.getElementById('status').textContent}));
    const alpha = Buffer.from(await page.evaluate(() => window.alphanet.alphaBase64()), 'base64');
    fs.writeFileSync(path.join(out, 'alpha.f32'), alpha);
    fs.writeFileSync(path.join(out, 'result.json'), JSON.stringify(result, null, 2) + '\n');
    await page.screenshot({path: path.join(out, 'page.png'), fullPage: true});
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => {
  console.error(`page_test: error: ${String(e.message ?? e).split('\n')[0]}`);
  process.exit(1);
});
