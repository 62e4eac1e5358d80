// Test harness for the eddy JS conformance suite.
//
// Starts one eddy server per test file (in `before`, killed in `after`) and
// hands tests Stream's official `stream-chat` SDK clients pointed at it.
//
// Usage in a test file:
//
//   import { useEddy, waitForEvent } from '../harness.js';
//   const eddy = useEddy();
//   test('...', async () => {
//     const { client: alice, me } = await eddy.connect({ id: 'alice' });
//     ...
//   });
//
// Environment:
//   EDDY_BIN    path of the eddy binary (default <repo root>/target/debug/eddy)
//   RUST_LOG    passed through (default "warn")
//   EDDY_DEBUG  when set, SDK requests/responses and received WS events are
//               printed to stderr, and the server's stderr is echoed.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before } from 'node:test';
import { StreamChat } from 'stream-chat';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const EDDY_BIN = process.env.EDDY_BIN || path.join(REPO_ROOT, 'target', 'debug', 'eddy');
export const API_KEY = 'conformance-key';

const STARTUP_TIMEOUT_MS = 20_000;
const DEBUG = Boolean(process.env.EDDY_DEBUG);

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

const liveServers = new Set();
process.on('exit', () => {
  // Never leave a server behind, even when the test process dies abruptly.
  for (const s of liveServers) {
    try {
      s.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

function tail(text, max = 4000) {
  return text.length > max ? '…' + text.slice(-max) : text;
}

/**
 * Start `eddy serve` on a random port with a fresh data dir.
 * Resolves to { url, apiKey, apiSecret, stop(), logs() }.
 */
/**
 * The cluster configuration (EDDY_CONFORMANCE_CLUSTER=<PostgreSQL URL>): each server gets a fresh
 * PostgreSQL schema (made with psql, dropped when the server stops) and its own NATS subject, so
 * test files running side by side never share data or events. Unset: the embedded default.
 */
function clusterConfiguration() {
  const base = process.env.EDDY_CONFORMANCE_CLUSTER;
  if (!base) return { env: {}, drop: () => {} };
  const schema = `eddy_js_${process.pid}_${randomBytes(4).toString('hex')}`;
  const psql = (sql) => {
    const done = spawnSync('psql', [base, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { encoding: 'utf8' });
    if (done.status !== 0) throw new Error(`psql failed (${sql}): ${done.stderr || done.error}`);
  };
  psql(`CREATE SCHEMA "${schema}"`);
  const separator = base.includes('?') ? '&' : '?';
  return {
    env: {
      EDDY_DATABASE_URL: `${base}${separator}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      EDDY_BUS_URL: process.env.EDDY_CONFORMANCE_NATS || 'nats://127.0.0.1:4222',
      EDDY_BUS_SUBJECT: `eddy.conformance.${schema}`,
    },
    drop: () => {
      try {
        psql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } catch (err) {
        process.stderr.write(`could not drop ${schema}: ${err.message}\n`);
      }
    },
  };
}

/**
 * Starts one eddy node. With `join` (a node started before, in the cluster configuration) the new
 * node shares its database schema, NATS subject and credentials: a second node of one cluster.
 */
export async function startEddy(join = null) {
  if (!existsSync(EDDY_BIN)) {
    throw new Error(
      `eddy binary not found at ${EDDY_BIN}. Build it first (cargo build) or set EDDY_BIN.`,
    );
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'eddy-conformance-js-'));
  const apiSecret = join ? join.apiSecret : randomBytes(24).toString('hex'); // 48 chars
  const env = {
    ...process.env,
    EDDY_API_KEY: API_KEY,
    EDDY_API_SECRET: apiSecret,
    RUST_LOG: process.env.RUST_LOG || 'warn',
  };
  const cluster = join ? { env: join.clusterEnv, drop: () => {} } : clusterConfiguration();
  Object.assign(env, cluster.env);
  const proc = spawn(
    EDDY_BIN,
    ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const server = { proc, dataDir, stdout: '', stderr: '', exited: null };
  liveServers.add(server);

  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    server.stderr += chunk;
    if (server.stderr.length > 200_000) server.stderr = server.stderr.slice(-100_000);
    if (DEBUG) process.stderr.write(`[eddy stderr] ${chunk}`);
  });

  const printed = {};
  const announced = new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (chunk) => {
      server.stdout += chunk;
      if (server.stdout.length > 200_000) server.stdout = server.stdout.slice(-100_000);
      if (DEBUG) process.stderr.write(`[eddy stdout] ${chunk}`);
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '').trim();
        buf = buf.slice(nl + 1);
        const m = /^(EDDY_URL|EDDY_API_KEY|EDDY_API_SECRET)=(.*)$/.exec(line);
        if (m) printed[m[1]] = m[2];
        if (printed.EDDY_URL && printed.EDDY_API_KEY && printed.EDDY_API_SECRET) {
          resolve();
        }
      }
    });
    proc.on('error', (err) => reject(new Error(`failed to spawn ${EDDY_BIN}: ${err.message}`)));
    proc.on('exit', (code, signal) => {
      server.exited = { code, signal };
      liveServers.delete(server);
      reject(
        new Error(
          `eddy exited during startup (code ${code}, signal ${signal}).\n` +
            `stdout:\n${tail(server.stdout)}\nstderr:\n${tail(server.stderr)}`,
        ),
      );
    });
  });

  const stop = async () => {
    liveServers.delete(server);
    if (server.exited === null) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    rmSync(dataDir, { recursive: true, force: true });
    cluster.drop();
  };

  try {
    await withTimeout(
      announced,
      STARTUP_TIMEOUT_MS,
      () =>
        `eddy did not print EDDY_URL/EDDY_API_KEY/EDDY_API_SECRET within ${STARTUP_TIMEOUT_MS} ms.\n` +
        `stdout:\n${tail(server.stdout)}\nstderr:\n${tail(server.stderr)}`,
    );
    const url = printed.EDDY_URL.replace(/\/+$/, '');
    if (printed.EDDY_API_KEY !== API_KEY || printed.EDDY_API_SECRET !== apiSecret) {
      throw new Error(
        `eddy printed credentials that differ from EDDY_API_KEY/EDDY_API_SECRET given to it ` +
          `(printed key ${JSON.stringify(printed.EDDY_API_KEY)}, expected ${JSON.stringify(API_KEY)})`,
      );
    }
    await waitHealthy(url, server);
    return {
      url,
      apiKey: API_KEY,
      apiSecret,
      clusterEnv: cluster.env,
      stop,
      /** Ends the node at once (SIGKILL), as a crash would; `stop` then only cleans up. */
      kill: async () => {
        if (server.exited !== null) return;
        server.killed = true;
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await gone;
      },
      exited: () => (server.killed ? null : server.exited),
      logs: () => ({ stdout: server.stdout, stderr: server.stderr }),
    };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

async function waitHealthy(url, server) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last = 'no response yet';
  while (Date.now() < deadline) {
    if (server.exited) break;
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `GET ${url}/healthz never returned 200 (last: ${last}).\nstderr:\n${tail(server.stderr)}`,
  );
}

function withTimeout(promise, ms, message) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(message())), ms);
    }),
  ]);
}

// ---------------------------------------------------------------------------
// SDK clients
// ---------------------------------------------------------------------------

function short(value, max = 1500) {
  let s;
  try {
    s = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    s = String(value);
  }
  if (s === undefined) return '';
  return s.length > max ? s.slice(0, max) + '…' : s;
}

function debugLogger(label) {
  return (level, message, extra = {}) => {
    const tags = extra.tags || [];
    if (tags.includes('api_request')) {
      process.stderr.write(`[${label}] ${message} ${short(extra.payload)}\n`);
    } else if (tags.includes('api_response') && extra.response) {
      process.stderr.write(`[${label}] ${message} ${short(extra.response.data)}\n`);
    } else if (tags.includes('api_response') && extra.error) {
      const e = extra.error;
      const body = e.response ? ` ${e.response.status} ${short(e.response.data)}` : ` ${e.message}`;
      process.stderr.write(`[${label}] ${message}${body}\n`);
    } else if (level === 'warn' || level === 'error') {
      process.stderr.write(`[${label}] ${level}: ${message}\n`);
    }
  };
}

/** Parse the error thrown by `connectUser` (a JSON string in `err.message`). */
export function connectErrorDetails(err) {
  try {
    const parsed = JSON.parse(err.message);
    if (parsed && typeof parsed === 'object') return parsed;
  } catch {
    /* not JSON */
  }
  return { code: err.code, StatusCode: err.StatusCode, message: err.message };
}

/**
 * Installs before/after hooks on the current test file and returns a context:
 *   eddy.url, eddy.apiKey, eddy.apiSecret
 *   eddy.server                  server-side StreamChat (key + secret)
 *   eddy.newServerClient(key?, secret?)
 *   eddy.newUserClient()         user-side StreamChat (no connection yet)
 *   eddy.connect(user, {token, client})  -> { client, me, connection }
 *   eddy.token(userId, exp?)     token signed with the app secret
 *   eddy.disconnectAll()
 * Clients created through the context are disconnected after every test.
 */
export function useEddy() {
  const ctx = {
    url: null,
    nodeUrls: [],
    apiKey: null,
    apiSecret: null,
    server: null,
    _srv: null,
    _clients: new Set(),
  };

  ctx.newServerClient = (key = ctx.apiKey, secret = ctx.apiSecret) =>
    new StreamChat(key, secret, {
      baseURL: ctx.url,
      timeout: 10_000,
      ...(DEBUG ? { logger: debugLogger('server') } : {}),
    });

  // Users' clients take the nodes in turn (EDDY_CONFORMANCE_NODES=2 in the cluster
  // configuration), so the two users of a scenario talk through different nodes.
  let nextNode = 0;
  ctx.newUserClient = (label = 'user', node = null) => {
    const nodeUrl = ctx.nodeUrls[(node ?? nextNode) % ctx.nodeUrls.length];
    if (node === null) nextNode += 1;
    const client = new StreamChat(ctx.apiKey, {
      baseURL: nodeUrl,
      allowServerSideConnect: true,
      timeout: 10_000,
      ...(DEBUG ? { logger: debugLogger(label) } : {}),
    });
    if (DEBUG) {
      client.on((ev) => {
        if (ev.type !== 'health.check' || ev.me) {
          process.stderr.write(`[${label} ws] ${short(ev, 800)}\n`);
        }
      });
    }
    ctx._clients.add(client);
    return client;
  };

  ctx.token = (userId, exp) => ctx.server.createToken(userId, exp);

  ctx.connect = async (user, { token, client, node = null } = {}) => {
    const c = client || ctx.newUserClient(user.id, node);
    ctx._clients.add(c);
    const connection = await c.connectUser(user, token ?? ctx.token(user.id));
    return { client: c, me: connection?.me, connection };
  };

  /**
   * Connect `a` and `b` (user objects or ids), let `a` create a `messaging`
   * channel with both as members, and let both watch it.
   * Returns { a, b, aCh, bCh, cid, id }.
   */
  ctx.watchedPair = async (channelId, a = 'alice', b = 'bob') => {
    const ua = typeof a === 'string' ? { id: a } : a;
    const ub = typeof b === 'string' ? { id: b } : b;
    const [{ client: ca }, { client: cb }] = await Promise.all([ctx.connect(ua), ctx.connect(ub)]);
    const aCh = ca.channel('messaging', channelId, { members: [ua.id, ub.id] });
    await aCh.watch();
    const bCh = cb.channel('messaging', channelId);
    await bCh.watch();
    return { a: ca, b: cb, aCh, bCh, cid: aCh.cid, id: channelId };
  };

  ctx.disconnectAll = async () => {
    const clients = [...ctx._clients];
    ctx._clients.clear();
    await Promise.all(
      clients.map((c) => (c.userID ? c.disconnectUser(2000).catch(() => {}) : undefined)),
    );
  };

  before(async () => {
    ctx._srv = await startEddy();
    ctx._nodes = [ctx._srv];
    const nodes = CLUSTER_NODES;
    if (nodes > 1 && !process.env.EDDY_CONFORMANCE_CLUSTER) {
      throw new Error('EDDY_CONFORMANCE_NODES > 1 needs EDDY_CONFORMANCE_CLUSTER (shared storage and bus)');
    }
    for (let n = 1; n < nodes; n += 1) ctx._nodes.push(await startEddy(ctx._srv));
    ctx.nodeUrls = ctx._nodes.map((node) => node.url);
    ctx.url = ctx._srv.url;
    ctx.apiKey = ctx._srv.apiKey;
    ctx.apiSecret = ctx._srv.apiSecret;
    ctx.server = ctx.newServerClient();
  });

  afterEach(async () => {
    await ctx.disconnectAll();
  });

  after(async () => {
    await ctx.disconnectAll();
    if (!ctx._srv) return;
    const crashed = ctx._nodes.map((node) => node.exited()).find(Boolean);
    const stderr = ctx._nodes.map((node) => node.logs().stderr).join('\n');
    // The first node last: it drops the shared schema.
    for (const node of [...ctx._nodes].reverse()) await node.stop();
    if (crashed) {
      throw new Error(
        `eddy exited while tests were running (code ${crashed.code}, signal ${crashed.signal}).\n` +
          `stderr:\n${tail(stderr)}`,
      );
    }
  });

  return ctx;
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

function describeTarget(target) {
  if (target && typeof target.cid === 'string' && typeof target.getClient === 'function') {
    return `channel ${target.cid} (client of ${target.getClient().userID ?? '?'})`;
  }
  if (target && 'userID' in target) return `client of ${target.userID ?? '?'}`;
  return 'target';
}

/**
 * Resolve with the first event of `type` on `target` (a StreamChat client or a
 * Channel) for which `predicate(event)` is truthy; reject after `timeoutMs`.
 *
 * Call it BEFORE triggering the action, then await the returned promise:
 *   const got = waitForEvent(bobChannel, 'message.new', (e) => e.message.id === id);
 *   await aliceChannel.sendMessage(...);
 *   const event = await got;
 */
export function waitForEvent(target, type, predicate = () => true, timeoutMs = 5000) {
  const label = describeTarget(target);
  const seen = [];
  const predicateErrors = [];
  return new Promise((resolve, reject) => {
    const all = target.on((ev) => {
      if (ev.type === 'health.check' && !ev.me) return;
      seen.push(ev.type === type ? `${ev.type}(non-matching: ${short(ev, 300)})` : ev.type);
    });
    const sub = target.on(type, (ev) => {
      let ok = false;
      try {
        ok = predicate(ev);
      } catch (err) {
        predicateErrors.push(err.message);
      }
      if (ok) {
        cleanup();
        resolve(ev);
      }
    });
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(
          `Timed out after ${timeoutMs} ms waiting for a '${type}' event on ${label}` +
            ` matching ${short(predicate.name && predicate.name !== 'predicate' ? predicate.name : String(predicate), 200)}` +
            `. Events received meanwhile: ${seen.length ? seen.join(', ') : 'none'}` +
            (predicateErrors.length ? `. Predicate errors: ${predicateErrors.join('; ')}` : ''),
        ),
      );
    }, timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      all.unsubscribe();
      sub.unsubscribe();
    }
  });
}

/** Collect events of `type` on `target` until `count` matching ones arrived. */
export function waitForEvents(target, type, count, predicate = () => true, timeoutMs = 5000) {
  const got = [];
  return waitForEvent(
    target,
    type,
    function collect(ev) {
      if (predicate(ev)) got.push(ev);
      return got.length >= count;
    },
    timeoutMs,
  ).then(
    () => got,
    (err) => {
      err.message += ` (got ${got.length} of ${count})`;
      throw err;
    },
  );
}

/**
 * Run `fn`, expecting it to reject with a Stream API error; returns
 * { status, code, body } from the HTTP response.
 */
export async function expectApiError(fn) {
  let result;
  try {
    result = await fn();
  } catch (err) {
    if (!err.response) {
      throw new Error(`expected an HTTP error response, got: ${err.stack || err}`);
    }
    return { status: err.response.status, code: err.code, body: err.response.data, error: err };
  }
  throw new Error(`expected the call to fail, but it succeeded with ${short(result, 400)}`);
}

/** Nodes of the cluster under test (EDDY_CONFORMANCE_NODES, default 1). */
export const CLUSTER_NODES = Number(process.env.EDDY_CONFORMANCE_NODES || 1);

/**
 * Waits until the nodes of a multi-node run have told each other of connections and watches just
 * made (eddy reports them over the bus within milliseconds); returns at once on one node.
 */
export async function clusterSettled() {
  if (CLUSTER_NODES > 1) await new Promise((resolve) => setTimeout(resolve, 150));
}

let counter = 0;
/** A short unique id for channels in one test run. */
export function uniqueId(prefix) {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

export { StreamChat };

/** The error a request fails with; fails the test if it succeeds. */
export async function apiError(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the request to fail');
}
