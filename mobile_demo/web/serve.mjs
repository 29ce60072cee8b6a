// A tiny static server for the demo page, on loopback only.
//
// Why not `python -m http.server`: LiteRT.js runs multi-threaded only on a cross-origin-isolated page,
// which needs the COOP/COEP headers sent here; and the model file lives outside this folder (dist/),
// so it is mapped to /model.tflite instead of being copied.
//
//   node serve.mjs [--model ../../dist/alphanet_int8_ptq.tflite] [--port 8000] [--host 127.0.0.1]

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const ROOT = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_MODEL = path.resolve(ROOT, '..', '..', 'dist', 'alphanet_int8_ptq.tflite');
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json', '.map': 'application/json',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.tflite': 'application/octet-stream',
};

/** The file a URL path names: /model.tflite is the model, anything else must stay inside ROOT. */
function resolve(urlPath, model) {
  if (urlPath === '/model.tflite') return model;
  const file = path.resolve(ROOT, '.' + (urlPath.endsWith('/') ? urlPath + 'index.html' : urlPath));
  return file.startsWith(ROOT + path.sep) ? file : null;
}

/** Starts serving; resolves to {server, url} once listening (port 0 picks a free port). */
export function startServer({model = DEFAULT_MODEL, port = 8000, host = '127.0.0.1'} = {}) {
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = resolve(urlPath, model);
    fs.stat(file ?? '', (err, stat) => {
      if (err || !stat.isFile()) {
        res.writeHead(404, {'Content-Type': 'text/plain'}).end(`not found: ${urlPath}\n`);
        return;
      }
      res.writeHead(200, {
        'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'Content-Length': stat.size,
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cache-Control': 'no-store',
      });
      fs.createReadStream(file).pipe(res);
    });
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok({server, url: `http://${host}:${server.address().port}/`}));
  });
}

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const model = path.resolve(option(args, '--model', DEFAULT_MODEL));
  if (!fs.existsSync(model)) {
    console.error(`serve.mjs: error: ${model}: no such model file (export one with \`alphanet export\`)`);
    process.exit(1);
  }
  startServer({model, port: Number(option(args, '--port', 8000)), host: option(args, '--host', '127.0.0.1')})
    .then(({url}) => console.log(`serving ${url} (model: ${model})`))
    .catch((e) => { console.error(`serve.mjs: error: ${e.message}`); process.exit(1); });
}
