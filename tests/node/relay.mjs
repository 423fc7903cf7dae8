// An upstream for the gateway's forwarding tests (official SDK, low-level
// Server): tools that stream progress and log messages, ask the client
// (elicitation), return every result member, or wait to be cancelled; a
// prompt, a resource and a resource template. SSE answers (--json for JSON).
//   --forbid-token T   answer 403 (and record it) to a request carrying T
//   POST /forget       drop every session, as a restarted server would
//   POST /mode/NAME    how MCP requests are answered from now on: normal;
//                      hang (accepted, never answered, as hang.mjs does);
//                      refuse (401); html (a web page); big (9 MiB of JSON);
//                      stray (a JSON-RPC answer to some other id); linger (the
//                      answer on an event stream kept open 3 s more); flood
//                      (the answer after 500 server requests on one stream);
//                      bigid (a server request whose id is 1 MiB, then the answer);
//                      endless (40 MiB of log notifications, then the answer)
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema, ElicitResultSchema, GetPromptRequestSchema, ListPromptsRequestSchema,
  ListResourcesRequestSchema, ListResourceTemplatesRequestSchema, ListToolsRequestSchema,
  ReadResourceRequestSchema, McpError, ErrorCode,
} from '@modelcontextprotocol/sdk/types.js';
import { listen, mcpEndpoint, parseArgs, readBody, recorder } from './common.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); });
});
const object = (properties = {}) => ({ type: 'object', properties });

const tools = [
  { name: 'echo', description: 'Echoes text', inputSchema: object({ text: { type: 'string' } }) },
  { name: 'progress', description: 'Three progress notifications 300 ms apart, then done',
    inputSchema: object() },
  { name: 'ask', description: 'Asks the user for a name (elicitation)', inputSchema: object() },
  { name: 'mixed', description: 'A failed result with structured content and _meta', inputSchema: object() },
  { name: 'slow', description: 'Waits 20 s unless cancelled', inputSchema: object() },
  { name: 'wait', description: 'Answers after arguments.ms (at most 10 s)',
    inputSchema: object({ ms: { type: 'number' } }) },
  { name: 'spoof', description: 'Reports progress on a token that is not its call\'s', inputSchema: object() },
];

// The result of `mixed`, exported for the test to compare with what it gets.
export const MIXED = {
  content: [{ type: 'text', text: 'partly done' }, { type: 'text', text: 'line two' }],
  structuredContent: { done: 1, of: 2, items: [{ id: 'a', ok: true }, { id: 'b', ok: false }], note: null },
  isError: true,
  _meta: { 'example.com/trace': 'trace-42', 'example.com/cost': 0.5 },
};

async function call(req, extra) {
  const { name, arguments: args = {} } = req.params;
  const token = req.params._meta?.progressToken;
  switch (name) {
  case 'echo':
    return { content: [{ type: 'text', text: String(args.text ?? '') }], structuredContent: { echo: String(args.text ?? '') } };
  case 'progress':
    for (let i = 1; i <= 3; i++) {
      if (token !== undefined)
        await extra.sendNotification({ method: 'notifications/progress',
          params: { progressToken: token, progress: i, total: 3, message: `step ${i}` } });
      await extra.sendNotification({ method: 'notifications/message',
        params: { level: 'info', logger: 'relay', data: `step ${i}` } });
      await sleep(300);
    }
    return { content: [{ type: 'text', text: 'three steps done' }] };
  case 'ask': {
    const r = await extra.sendRequest({ method: 'elicitation/create', params: {
      message: 'What is your name?',
      requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
    } }, ElicitResultSchema, { timeout: 20000 });
    record({ elicited: r });
    return { content: [{ type: 'text', text: `hello ${r.content?.name ?? '(declined)'}` }] };
  }
  case 'mixed':
    return MIXED;
  case 'spoof':
    await extra.sendNotification({ method: 'notifications/progress',
      params: { progressToken: 'not-yours', progress: 1, message: 'spoofed' } });
    if (token !== undefined)
      await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: 1 } });
    return { content: [{ type: 'text', text: 'spoof done' }] };
  case 'wait':
    await sleep(Math.min(Math.max(Number(args.ms) || 0, 0), 10000), extra.signal);
    return { content: [{ type: 'text', text: 'waited' }] };
  case 'slow':
    await sleep(20000, extra.signal);
    if (extra.signal.aborted) record({ cancelled: extra.requestId });
    return { content: [{ type: 'text', text: 'slept' }] };
  default:
    throw new McpError(ErrorCode.InvalidParams, `Tool ${name} not found`);
  }
}

function makeServer() {
  const server = new Server({ name: 'relay-fixture', version: '2.0.0' },
    { capabilities: { tools: {}, prompts: {}, resources: {}, logging: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, call);
  server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: [{ name: 'greet', description: 'A greeting',
    arguments: [{ name: 'who', required: true }] }] }));
  server.setRequestHandler(GetPromptRequestSchema, (req) => {
    if (req.params.name !== 'greet') throw new McpError(ErrorCode.InvalidParams, 'no such prompt');
    return { messages: [{ role: 'user', content: { type: 'text', text: `Greet ${req.params.arguments?.who}` } }] };
  });
  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: [
    { uri: 'test://relay/info', name: 'info', mimeType: 'text/plain' }] }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({ resourceTemplates: [
    { uriTemplate: 'test://relay/items/{id}', name: 'item', mimeType: 'text/plain' }] }));
  server.setRequestHandler(ReadResourceRequestSchema, (req) => ({
    contents: [{ uri: req.params.uri, mimeType: 'text/plain', text: `contents of ${req.params.uri}` }] }));
  return server;
}

const mcp = mcpEndpoint(makeServer, { record, json: Boolean(opts.json) });
let mode = 'normal';
listen(opts, async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (opts['forbid-token'] && String(req.headers.authorization ?? '').includes(opts['forbid-token'])) {
    record({ forbidden_token: true, http: req.method });
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('the client\'s own token reached the upstream');
    return;
  }
  if (path.startsWith('/mode/') && req.method === 'POST') {
    mode = path.slice(6);
    record({ mode });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${mode}\n`);
    return;
  }
  if (mode !== 'normal' && path === '/mcp') {
    record({ http: req.method, mode, peer: req.socket.remotePort, ...(mode === 'hang' ? { hung: true } : {}) });
    if (mode === 'hang') return; // nothing, ever: the client's deadline is what ends this
    if (mode === 'refuse') {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
      res.end('{"error":"invalid_token"}');
    } else if (mode === 'html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Welcome</body></html>');
    } else if (mode === 'linger') {
      let id = null;
      try { id = JSON.parse(await readBody(req)).id ?? null; } catch { /* answered with id null */ }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id,
        result: { content: [{ type: 'text', text: 'lingered' }] } })}\n\n`);
      setTimeout(() => res.end(), 3000).unref();
    } else if (mode === 'endless') {
      let id = null;
      try { id = JSON.parse(await readBody(req)).id ?? null; } catch { /* answered with id null */ }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const line = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message',
        params: { level: 'info', data: 'x'.repeat(1 << 20) } })}\n\n`;
      let sent = 0;
      const more = () => {
        while (sent < 40) {
          sent++;
          if (!res.write(line)) { res.once('drain', more); return; }
        }
        res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id,
          result: { content: [{ type: 'text', text: 'endless' }] } })}\n\n`);
      };
      res.on('error', () => {});
      more();
    } else if (mode === 'bigid') {
      let id = null;
      try { id = JSON.parse(await readBody(req)).id ?? null; } catch { /* answered with id null */ }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 'i'.repeat(1 << 20), method: 'ping' })}\n\n`);
      res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id,
        result: { content: [{ type: 'text', text: 'big id' }] } })}\n\n`);
    } else if (mode === 'flood') {
      let id = null;
      try { id = JSON.parse(await readBody(req)).id ?? null; } catch { /* answered with id null */ }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      for (let i = 1; i <= 500; i++)
        res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: `flood-${i}`, method: 'ping' })}\n\n`);
      res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id,
        result: { content: [{ type: 'text', text: 'flooded' }] } })}\n\n`);
    } else if (mode === 'big') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { pad: 'x'.repeat(9 << 20) } }));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 'not-yours', result: {} }));
    }
    return;
  }
  if (path === '/forget' && req.method === 'POST') {
    const n = mcp.sessions.size;
    mcp.sessions.clear();
    record({ forgot: n });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`forgot ${n}\n`);
    return;
  }
  if (path !== '/mcp') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
    return;
  }
  return mcp(req, res);
});
