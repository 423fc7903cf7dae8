// An upstream that requires one bearer token (--token, or $FIXTURE_TOKEN).
// Any other Authorization header is refused with 401 and appended to
// --auth-log, so that a test can prove which credentials reached an upstream.
import { appendFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { listen, mcpEndpoint, parseArgs, recorder } from './common.mjs';

const opts = parseArgs();
const token = opts.token ?? process.env.FIXTURE_TOKEN;
if (!token) throw new Error('--token or FIXTURE_TOKEN is required');
const record = recorder(opts.record);

function makeServer() {
  const server = new McpServer({ name: 'bearer-fixture', version: '1.0.0' });
  server.registerTool('whoami', { description: 'Says that the caller presented the right token',
    inputSchema: { note: z.string().optional() } },
  async () => ({ content: [{ type: 'text', text: 'authorized' }] }));
  return server;
}

const mcp = mcpEndpoint(makeServer, { record });
listen(opts, (req, res) => {
  const auth = req.headers.authorization;
  if (auth !== `Bearer ${token}`) {
    if (auth !== undefined && opts['auth-log']) appendFileSync(opts['auth-log'], `${auth}\n`);
    record({ http: req.method, refused: auth === undefined ? 'missing' : 'wrong' });
    res.writeHead(401, { 'content-type': 'application/json',
      'www-authenticate': 'Bearer error="invalid_token"' });
    res.end(JSON.stringify({ error: 'invalid_token' }));
    return;
  }
  return mcp(req, res);
});
