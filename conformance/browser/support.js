// Helpers for the browser end-to-end test: start eddy, serve the built example app, launch Chromium.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const EDDY_BIN = process.env.EDDY_BIN || path.join(REPO_ROOT, 'target', 'debug', 'eddy');
export const APP_DIST = path.join(REPO_ROOT, 'examples', 'react', 'dist');
export const ARTIFACTS = path.join(HERE, 'artifacts');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const DEBUG = Boolean(process.env.EDDY_DEBUG);

function tail(text, max = 4000) {
  return text.length > max ? '…' + text.slice(-max) : text;
}

/**
 * Start `eddy serve` on a random loopback port with a fresh data dir, the same way
 * conformance/js/harness.js does: wait for the EDDY_URL/EDDY_API_KEY/EDDY_API_SECRET lines
 * on stdout, then for /healthz. Resolves to { url, apiKey, apiSecret, stop(), logs() }.
 */
export async function startEddy({ timeoutMs = 20_000 } = {}) {
  if (!existsSync(EDDY_BIN)) {
    throw new Error(`eddy binary not found at ${EDDY_BIN}. Build it (cargo build) or set EDDY_BIN.`);
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'eddy-browser-e2e-'));
  const apiKey = 'browser-e2e-key';
  const apiSecret = randomBytes(24).toString('hex');
  const proc = spawn(EDDY_BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    env: { ...process.env, EDDY_API_KEY: apiKey, EDDY_API_SECRET: apiSecret, RUST_LOG: process.env.RUST_LOG || 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = { stdout: '', stderr: '' };
  let exited = null;
  const killOnExit = () => proc.kill('SIGKILL');
  process.on('exit', killOnExit);
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c) => {
    logs.stderr = (logs.stderr + c).slice(-100_000);
    if (DEBUG) process.stderr.write(`[eddy] ${c}`);
  });

  const printed = {};
  const announced = new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (chunk) => {
      logs.stdout = (logs.stdout + chunk).slice(-100_000);
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const m = /^(EDDY_URL|EDDY_API_KEY|EDDY_API_SECRET)=(.*)$/.exec(buf.slice(0, nl).trim());
        buf = buf.slice(nl + 1);
        if (m) printed[m[1]] = m[2];
        if (printed.EDDY_URL && printed.EDDY_API_KEY && printed.EDDY_API_SECRET) resolve();
      }
    });
    proc.on('error', (err) => reject(new Error(`failed to spawn ${EDDY_BIN}: ${err.message}`)));
    proc.on('exit', (code, signal) => {
      exited = { code, signal };
      reject(new Error(`eddy exited during startup (code ${code}, signal ${signal}).\nstderr:\n${tail(logs.stderr)}`));
    });
  });

  const stop = async () => {
    process.off('exit', killOnExit);
    if (exited === null) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    let timer;
    await Promise.race([
      announced.finally(() => clearTimeout(timer)),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`eddy printed no EDDY_URL within ${timeoutMs} ms.\nstderr:\n${tail(logs.stderr)}`)),
          timeoutMs,
        );
      }),
    ]);
    const url = printed.EDDY_URL.replace(/\/+$/, '');
    if (/:3030$/.test(url)) throw new Error('eddy picked port 3030, which the JS SDK rewrites to 8800 for WebSockets');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`GET ${url}/healthz never returned 200`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { url, apiKey, apiSecret, stop, exited: () => exited, logs: () => logs };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};

/**
 * True when eddy answers a browser's CORS preflight for a cross-origin API call
 * (what a web app served from another origin than eddy needs).
 */
export async function eddyAllowsCors(eddyUrl, origin) {
  try {
    const res = await fetch(`${eddyUrl}/channels?api_key=x`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,stream-auth-type,x-stream-client',
      },
      signal: AbortSignal.timeout(3000),
    });
    const allowed = res.headers.get('access-control-allow-origin');
    return res.ok && (allowed === '*' || allowed === origin);
  } catch {
    return false;
  }
}

/** Forward one HTTP request under /eddy/ to eddy (same-origin mode). */
function proxyHttp(req, res, target, rest) {
  const up = httpRequest(
    { host: target.hostname, port: target.port, method: req.method, path: rest, headers: { ...req.headers, host: target.host } },
    (upRes) => {
      res.writeHead(upRes.statusCode, upRes.headers);
      upRes.pipe(res);
    },
  );
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
}

/** Forward a WebSocket upgrade under /eddy/ to eddy byte for byte (same-origin mode). */
function proxyUpgrade(req, socket, head, target, rest, live) {
  const up = netConnect(Number(target.port), target.hostname, () => {
    const lines = [`${req.method} ${rest} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i];
      lines.push(`${name}: ${name.toLowerCase() === 'host' ? target.host : req.rawHeaders[i + 1]}`);
    }
    up.write(lines.join('\r\n') + '\r\n\r\n');
    if (head && head.length) up.write(head);
    up.pipe(socket);
    socket.pipe(up);
  });
  const drop = () => {
    up.destroy();
    socket.destroy();
  };
  up.on('error', drop);
  socket.on('error', drop);
  up.on('close', drop);
  socket.on('close', drop);
  live.add(up);
  live.add(socket);
  up.on('close', () => live.delete(up));
  socket.on('close', () => live.delete(socket));
}

/**
 * Serve `root` (the built app) on a random free loopback port. Resolves to { url, close() }.
 * With `proxyTo` (eddy's URL), everything under /eddy/ (HTTP and WebSocket) is forwarded to eddy,
 * so the app can talk to eddy from its own origin when eddy sends no CORS headers.
 */
export async function serveStatic(root = APP_DIST, { proxyTo = null } = {}) {
  const target = proxyTo ? new URL(proxyTo) : null;
  if (!existsSync(path.join(root, 'index.html'))) {
    throw new Error(`${root}/index.html is missing: build the example app first (npm run build-app)`);
  }
  const server = createServer((req, res) => {
    if (target && (req.url === '/eddy' || req.url.startsWith('/eddy/') || req.url.startsWith('/eddy?'))) {
      proxyHttp(req, res, target, req.url.slice('/eddy'.length) || '/');
      return;
    }
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = path.normalize(path.join(root, rel));
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    if (!existsSync(file) || statSync(file).isDirectory()) file = path.join(root, 'index.html');
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  const live = new Set();
  if (target) {
    server.on('upgrade', (req, socket, head) => {
      if (req.url.startsWith('/eddy/')) proxyUpgrade(req, socket, head, target, req.url.slice('/eddy'.length), live);
      else socket.destroy();
    });
  }
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    // Port 0 picks a free port; 3030 would be unlucky but harmless here (only eddy's port matters).
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        for (const sock of live) sock.destroy();
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
