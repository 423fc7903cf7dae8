// The server the MCP conformance suite (`conformance server --requirements
// 2026-07-28`) expects behind the gateway, written with the official v2
// server package: its fixture tools, resources and prompts served in both eras
// by createMcpHandler (the gateway reaches it in 2025-11-25, served
// statelessly by the package), with DNS rebinding protection.
//   --allowed-hosts LIST  host names accepted in Host and Origin (default
//                         127.0.0.1,localhost,[::1]; any port)
import { Readable } from 'node:stream';
import {
  McpServer, MissingRequiredClientCapabilityError, ResourceTemplate, completable, createMcpHandler, fromJsonSchema,
} from '@modelcontextprotocol/server';
import { z } from 'zod-v4';
import { listen, parseArgs, readBody, recorder } from './common.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const allowedHosts = new Set(String(opts['allowed-hosts'] ?? '127.0.0.1,localhost,[::1]')
  .split(',').map((h) => h.trim().toLowerCase()).filter(Boolean));

// 1x1 PNG and a WAV file with one silent sample: the smallest valid media.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (t) => ({ content: [{ type: 'text', text: t }] });

// SEP-2106: JSON Schema 2020-12 keywords, listed exactly as written.
const SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: { address: { $anchor: 'addressDef', type: 'object',
    properties: { street: { type: 'string' }, city: { type: 'string' } } } },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
};

function registerTools(server) {
  const none = { inputSchema: z.object({}) };
  server.registerTool('test_simple_text', { description: 'Returns one text block', ...none },
    async () => text('This is a simple text response for testing.'));
  server.registerTool('test_image_content', { description: 'Returns a PNG image', ...none },
    async () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }));
  server.registerTool('test_audio_content', { description: 'Returns a WAV clip', ...none },
    async () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }));
  server.registerTool('test_embedded_resource', { description: 'Returns an embedded text resource', ...none },
    async () => ({ content: [{ type: 'resource', resource: {
      uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }] }));
  server.registerTool('test_multiple_content_types', { description: 'Returns text, an image and a resource', ...none },
    async () => ({ content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json',
        text: JSON.stringify({ test: 'data', value: 123 }) } },
    ] }));
  server.registerTool('test_tool_with_progress', { description: 'Reports progress 0, 50 and 100 of 100', ...none },
    async (_args, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({ method: 'notifications/progress',
            params: { progressToken, progress, total: 100, message: `${progress} of 100` } });
        }
        if (progress < 100) await sleep(50);
      }
      return text(`Progress reported${progressToken === undefined ? ' (no progress token)' : ''}`);
    });
  server.registerTool('test_error_handling', { description: 'Always fails', ...none }, async () => {
    throw new Error('This tool intentionally returns an error for testing');
  });
  server.registerTool('json_schema_2020_12_tool', { description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: fromJsonSchema(SCHEMA_2020_12) },
  async (args) => text(`json_schema_2020_12_tool called with ${JSON.stringify(args)}`));
  // SEP-2243: arguments mirrored in Mcp-Param-* headers.
  server.registerTool('test_custom_headers', { description: 'Echoes its region, mirrored in Mcp-Param-Region',
    inputSchema: fromJsonSchema({ type: 'object', properties: {
      region: { type: 'string', description: 'Where to run', 'x-mcp-header': 'Region' },
      query: { type: 'string', description: 'What to run' } }, required: ['region'] }) },
  async ({ region }) => text(`region=${region}`));
  // SEP-2575 diagnostics. A tool that needs the client's sampling capability
  // (the capabilities it sees are those its caller declared to it).
  server.registerTool('test_missing_capability', { description: 'Needs the sampling capability', ...none },
    async (_args, ctx) => {
      const caps = ctx.mcpReq.envelope?.clientCapabilities ?? server.server.getClientCapabilities?.();
      if (!caps?.sampling) throw new MissingRequiredClientCapabilityError({ requiredCapabilities: { sampling: {} } });
      return text('The client declared sampling');
    });
  // Logs whatever the request asked for: a server of the new era must not
  // send these to a request that set no log level.
  server.registerTool('test_logging_tool', { description: 'Sends two log messages, then answers', ...none },
    async (_args, ctx) => {
      for (const data of ['Tool execution started', 'Tool execution completed']) {
        await ctx.mcpReq.notify({ method: 'notifications/message', params: { level: 'info', logger: 'fixture', data } });
        await sleep(20);
      }
      return text('Tool with logging executed');
    });
  // Asks the user mid-call: in the new era this must reach the client as an
  // input-required result, never as a request of its own on the stream.
  server.registerTool('test_streaming_elicitation', { description: 'Elicits a name mid-call', ...none },
    async (_args, ctx) => {
      const r = await ctx.mcpReq.elicitInput({ mode: 'form', message: 'Your name?',
        requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } });
      return text(`Elicitation: ${r.action}`);
    });
}

function registerResources(server) {
  const fixed = (name, uri, description, mimeType, body) => server.registerResource(name, uri,
    { title: name, description, mimeType }, async () => ({ contents: [{ uri, mimeType, ...body() }] }));
  fixed('static-text', 'test://static-text', 'A fixed text resource', 'text/plain',
    () => ({ text: 'This is the content of the static text resource.' }));
  fixed('static-binary', 'test://static-binary', 'A fixed PNG image', 'image/png', () => ({ blob: PNG }));
  server.registerResource('template', new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { title: 'template', description: 'JSON data for any id', mimeType: 'application/json' },
    async (uri, { id }) => ({ contents: [{ uri: uri.href, mimeType: 'application/json',
      text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }] }));
}

function registerPrompts(server) {
  const user = (content) => ({ role: 'user', content });
  const words = ['hello', 'help', 'test', 'testing', 'world'];
  const complete = (value) => words.filter((w) => w.startsWith(value ?? ''));
  const str = (description) => z.string().describe(description);
  server.registerPrompt('test_simple_prompt', { description: 'A prompt without arguments' },
    async () => ({ messages: [user({ type: 'text', text: 'This is a simple prompt for testing.' })] }));
  server.registerPrompt('test_prompt_with_arguments', { description: 'A prompt with two required arguments',
    argsSchema: z.object({ arg1: completable(str('First test argument'), complete),
      arg2: completable(str('Second test argument'), complete) }) },
  async ({ arg1, arg2 }) => ({ messages: [user({ type: 'text',
    text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` })] }));
  server.registerPrompt('test_prompt_with_embedded_resource', { description: 'A prompt embedding the named resource',
    argsSchema: z.object({ resourceUri: str('URI of the resource to embed') }) },
  async ({ resourceUri }) => ({ messages: [
    user({ type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain',
      text: 'Embedded resource content for testing.' } }),
    user({ type: 'text', text: 'Please process the embedded resource above.' }),
  ] }));
  server.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image' },
    async () => ({ messages: [
      user({ type: 'image', data: PNG, mimeType: 'image/png' }),
      user({ type: 'text', text: 'Please analyze the image above.' }),
    ] }));
}

function makeServer() {
  const server = new McpServer({ name: 'conformance-fixture-v2', version: '1.0.0' }, {
    capabilities: { tools: {}, resources: {}, prompts: {}, completions: {} },
  });
  registerTools(server);
  registerResources(server);
  registerPrompts(server);
  return server;
}

function hostAllowed(value, isOrigin) {
  if (value === undefined) return isOrigin;
  try {
    return allowedHosts.has(new URL(isOrigin ? value : `http://${value}`).hostname.toLowerCase());
  } catch {
    return false;
  }
}

const handler = createMcpHandler(makeServer, { onerror: (e) => console.error(`mcp: ${e.message}`) });
listen(opts, async (req, res) => {
  if (new URL(req.url, 'http://x').pathname !== '/mcp') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
    return;
  }
  if (!hostAllowed(req.headers.host, false) || !hostAllowed(req.headers.origin, true)) {
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Forbidden: Host or Origin' } }));
    return;
  }
  const raw = req.method === 'POST' ? await readBody(req) : undefined;
  let body;
  try { body = raw ? JSON.parse(raw) : undefined; } catch { body = undefined; }
  record?.({ http: req.method, rpc: body?.method ?? null, protocol_version: req.headers['mcp-protocol-version'] ?? null,
    session: req.headers['mcp-session-id'] ?? null, meta_keys: Object.keys(body?.params?._meta ?? {}) });
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
  const request = new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url}`,
    { method: req.method, headers, body: raw });
  const response = await handler.fetch(request);
  res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
  if (response.body) Readable.fromWeb(response.body).pipe(res);
  else res.end();
});
