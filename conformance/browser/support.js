// Helpers for the browser end-to-end test: start eddy, serve the built example app, launch Chromium.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const APP_DIST = path.join(REPO_ROOT, 'examples', 'react', 'dist');
export const ARTIFACTS = path.join(HERE, 'artifacts');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const DEBUG = Boolean(process.env.EDDY_DEBUG);

/** eddy is started exactly as the SDK conformance suite starts it (fresh data dir, random port). */
export { startEddy } from '../js/harness.js';

/** Content types of the files the built app serves. */
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
