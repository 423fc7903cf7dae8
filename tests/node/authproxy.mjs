// A loopback forward proxy that adds "Authorization: Bearer TOKEN" to every
// request, for clients that cannot send one (the MCP conformance suite).
//   --target URL       base URL: a request for /mcp goes to URL + /mcp (http or https)
//   --ca-file F        CA bundle that signs an https target's certificate
//   --token-file F     the token (read on each request, so it may be renewed);
//                      else $AUTHPROXY_TOKEN. Never logged.
// Everything else passes unchanged: method, path, query, headers (Host and
// Origin included, as a DNS rebinding test must reach the target as sent),
// bodies and SSE streams in both directions, chunk by chunk.
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { listen, parseArgs, recorder } from './common.mjs';

const opts = parseArgs();
if (!opts.target) throw new Error('--target is required');
const target = new URL(opts.target);
const basePath = target.pathname.replace(/\/+$/, '');
const tls = target.protocol === 'https:';
if (!tls && target.protocol !== 'http:') throw new Error(`--target must be http:// or https://, not ${target.protocol}`);
const record = recorder(opts.record);

function token() {
  const t = opts['token-file'] ? readFileSync(opts['token-file'], 'utf8').trim() : process.env.AUTHPROXY_TOKEN;
  if (!t) throw new Error('no token: give --token-file or set AUTHPROXY_TOKEN');
  return t;
}

// Connection-level headers belong to one hop (RFC 9110 7.6.1); the rest is the message.
const HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization',
  'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
function endToEnd(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP.has(k.toLowerCase())) out[k] = v;
  return out;
}

const agent = tls
  ? new HttpsAgent({ keepAlive: true, ca: opts['ca-file'] ? readFileSync(opts['ca-file']) : undefined })
  : new HttpAgent({ keepAlive: true });
const send = tls ? httpsRequest : httpRequest;

listen(opts, (req, res) => {
  const headers = endToEnd(req.headers);
  delete headers.authorization;
  headers.authorization = `Bearer ${token()}`;
  const path = basePath + req.url;
  const upstream = send({
    agent, method: req.method, hostname: target.hostname, port: target.port || (tls ? 443 : 80), path, headers,
    // The certificate is checked against the target, not against the Host the
    // client sent (which may be foreign on purpose); no SNI for an IP address.
    ...(tls ? { servername: isIP(target.hostname) ? '' : target.hostname } : {}),
  }, (up) => {
    record({ http: req.method, path, host: req.headers.host ?? null, status: up.statusCode });
    res.writeHead(up.statusCode, up.statusMessage, endToEnd(up.headers));
    res.flushHeaders();
    up.on('data', (chunk) => res.write(chunk));
    up.on('end', () => res.end());
    up.on('error', () => res.destroy());
  });
  upstream.on('error', (err) => {
    record({ http: req.method, path, error: err.code ?? err.message });
    console.error(`authproxy: ${req.method} ${path}: ${err.message}`);
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`authproxy: target unreachable (${err.code ?? 'error'})\n`);
    } else {
      res.destroy();
    }
  });
  // A client that goes away ends the target's stream too.
  res.on('close', () => { if (!res.writableFinished) upstream.destroy(); });
  req.pipe(upstream);
});
