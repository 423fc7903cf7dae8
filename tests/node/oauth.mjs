// An upstream protected by OAuth client credentials, with its own token
// endpoint: POST /token (form: grant_type=client_credentials, client_id,
// client_secret, scope) issues a random access token valid --expires-in
// seconds; /mcp accepts only a live issued token. POST /revoke forgets every
// issued token (a test of "401 drops the cached token and retries once").
//   --client-id ID --client-secret SECRET [--scope S] [--expires-in SECONDS]
import { randomBytes } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { listen, mcpEndpoint, parseArgs, readBody, recorder } from './common.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const expiresIn = Number(opts['expires-in'] ?? 3600);
const live = new Map(); // token -> expiry (ms)

function makeServer() {
  const server = new McpServer({ name: 'oauth-fixture', version: '1.0.0' });
  server.registerTool('secure_echo', { description: 'Echo behind OAuth client credentials' },
    async () => ({ content: [{ type: 'text', text: 'ok' }] }));
  return server;
}

function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

async function token(req, res) {
  if (req.method !== 'POST') return json(res, 405, { error: 'invalid_request' });
  if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
    return json(res, 400, { error: 'invalid_request', error_description: 'form body expected' });
  const form = new URLSearchParams(await readBody(req));
  if (form.get('grant_type') !== 'client_credentials') {
    record({ token: 'refused', why: 'grant_type' });
    return json(res, 400, { error: 'unsupported_grant_type' });
  }
  if (form.get('client_id') !== opts['client-id'] || form.get('client_secret') !== opts['client-secret']) {
    record({ token: 'refused', why: 'client' });
    return json(res, 401, { error: 'invalid_client' });
  }
  if (opts.scope && form.get('scope') !== opts.scope) {
    record({ token: 'refused', why: 'scope', scope: form.get('scope') });
    return json(res, 400, { error: 'invalid_scope' });
  }
  const access = randomBytes(24).toString('base64url');
  live.set(access, Date.now() + expiresIn * 1000);
  // The test reads the token back to prove it never appears in clear anywhere.
  record({ token: 'issued', expires_in: expiresIn, access });
  return json(res, 200, { access_token: access, token_type: 'Bearer', expires_in: expiresIn,
    ...(opts.scope ? { scope: opts.scope } : {}) });
}

const mcp = mcpEndpoint(makeServer, { record });
listen(opts, async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/token') return token(req, res);
  if (path === '/revoke' && req.method === 'POST') {
    live.clear();
    record({ revoked: true });
    return json(res, 200, { revoked: true });
  }
  if (path !== '/mcp') return json(res, 404, { error: 'not found' });
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  const exp = m ? live.get(m[1]) : undefined;
  if (exp === undefined || exp <= Date.now()) {
    record({ http: req.method, refused: m ? (exp === undefined ? 'unknown' : 'expired') : 'missing' });
    return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
  }
  record({ http: req.method, authorized: true });
  return mcp(req, res);
});
