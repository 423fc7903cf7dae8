// Shared by the upstream fixtures: command line, pid file, request records,
// and a stateful MCP Streamable HTTP endpoint built on the official SDK.
import { randomUUID } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

// --port N --pid-file F --record F plus fixture options (--name value or --flag).
export function parseArgs(argv = process.argv.slice(2)) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) opts[key] = argv[++i];
    else opts[key] = true;
  }
  if (!opts.port) throw new Error('--port is required');
  return opts;
}

// One JSON line per event, for the tests to read back.
export function recorder(file) {
  return (event) => {
    if (file) appendFileSync(file, JSON.stringify({ t: Date.now(), ...event }) + '\n');
  };
}

export function readBody(req, limit = 1 << 20) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// Listen on 127.0.0.1 only (TLS with --tls-cert and --tls-key), write the pid
// file once listening, stop on TERM/INT.
export function listen(opts, handler) {
  const tls = opts['tls-cert'] ? { cert: readFileSync(opts['tls-cert']), key: readFileSync(opts['tls-key']) } : null;
  const serve = (req, res) => {
    Promise.resolve(handler(req, res)).catch((err) => {
      console.error(`fixture error: ${err.stack || err}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('fixture error');
    });
  };
  const server = tls ? createTlsServer(tls, serve) : createServer(serve);
  server.listen(Number(opts.port), '127.0.0.1', () => {
    if (opts['pid-file']) writeFileSync(opts['pid-file'], `${process.pid}\n`);
    console.error(`listening on 127.0.0.1:${opts.port}`);
  });
  const stop = () => { server.closeAllConnections?.(); server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 500).unref(); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return server;
}

// hostGuard(opts): hostAllowed(value, isOrigin) for --allowed-hosts LIST
// (default 127.0.0.1,localhost,[::1]; any port). Host and Origin name the
// server as the browser sees it: a loopback server reached under any other
// name is the target of a DNS rebinding attack. Clients outside browsers send
// no Origin.
export function hostGuard(opts) {
  const allowed = new Set(String(opts['allowed-hosts'] ?? '127.0.0.1,localhost,[::1]')
    .split(',').map((h) => h.trim().toLowerCase()).filter(Boolean));
  return (value, isOrigin) => {
    if (value === undefined) return isOrigin;
    try {
      return allowed.has(new URL(isOrigin ? value : `http://${value}`).hostname.toLowerCase());
    } catch {
      return false;
    }
  };
}

// serveFetch(handler, req, res, body): answer a Node request with a web-standard
// fetch handler (the v2 server package's createMcpHandler), body already read.
export async function serveFetch(handler, req, res, body) {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
  const response = await handler.fetch(new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url}`, {
    method: req.method, headers, body: body === undefined || body === '' ? undefined : body,
  }));
  res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
  if (response.body) {
    for await (const chunk of response.body) res.write(chunk);
  }
  res.end();
}

// A stateful MCP endpoint: one SDK transport and server per session, as the SDK
// examples do. makeServer() returns a fresh (unconnected) SDK server. Every
// request is recorded with the headers the gateway's client must send.
// transport: more options for each session's SDK transport (eventStore, ...).
export function mcpEndpoint(makeServer, { record, json = false, transport: more = {} } = {}) {
  const sessions = new Map();
  const handler = async (req, res) => {
    const sid = req.headers['mcp-session-id'];
    const raw = req.method === 'POST' ? await readBody(req) : '';
    let body;
    try { body = raw ? JSON.parse(raw) : undefined; } catch { body = undefined; }
    record?.({
      http: req.method,
      rpc: body?.method ?? (body && 'result' in body ? 'response' : null),
      session: sid ?? null,
      peer: req.socket.remotePort,
      protocol_version: req.headers['mcp-protocol-version'] ?? null,
      accept: req.headers.accept ?? null,
      content_type: req.headers['content-type'] ?? null,
      meta_keys: Object.keys(body?.params?._meta ?? {}),
    });
    let transport = sid ? sessions.get(sid) : undefined;
    if (!transport) {
      if (sid || req.method !== 'POST' || !isInitializeRequest(body)) {
        res.writeHead(sid ? 404 : 400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null,
          error: { code: -32000, message: sid ? 'Session not found' : 'No session' } }));
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: json,
        ...more,
        onsessioninitialized: (id) => { sessions.set(id, transport); },
        onsessionclosed: (id) => { sessions.delete(id); record?.({ closed: id }); },
      });
      await makeServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  };
  // The live sessions, for fixtures that forget them on purpose (a restart).
  handler.sessions = sessions;
  return handler;
}

// Serve an MCP endpoint (from mcpEndpoint) at /mcp and nothing else.
export function listenMcp(opts, mcp) {
  return listen(opts, (req, res) => {
    if (new URL(req.url, 'http://x').pathname !== '/mcp') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    return mcp(req, res);
  });
}
