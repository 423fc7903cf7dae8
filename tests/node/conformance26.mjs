// The server the MCP conformance suite (`conformance server --requirements
// 2026-07-28`) expects behind the gateway, written with the official v2
// server package: its fixture tools, resources and prompts served in both eras
// by createMcpHandler (the gateway reaches it in 2025-11-25, served
// statelessly by the package), with DNS rebinding protection.
//   --allowed-hosts LIST  host names accepted in Host and Origin (default
//                         127.0.0.1,localhost,[::1]; any port)
import {
  McpServer, MissingRequiredClientCapabilityError, ResourceTemplate, completable, createMcpHandler, fromJsonSchema,
} from '@modelcontextprotocol/server';
import { z } from 'zod-v4';
import { hostGuard, listenMcp, parseArgs, readBody, recorder, serveFetch } from './common.mjs';
import {
  SCHEMA_2020_12, SCHEMA_2020_12_TOOL, registerContentTools, registerFixedResources, registerFixturePrompts, sleep, text,
} from './fixture_content.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const hostAllowed = hostGuard(opts);

function registerTools(server) {
  const none = { inputSchema: z.object({}) };
  registerContentTools(server, none);
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
  server.registerTool(SCHEMA_2020_12_TOOL, { description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: fromJsonSchema(SCHEMA_2020_12) },
  async (args) => text(`${SCHEMA_2020_12_TOOL} called with ${JSON.stringify(args)}`));
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

function makeServer() {
  const server = new McpServer({ name: 'conformance-fixture-v2', version: '1.0.0' }, {
    capabilities: { tools: {}, resources: {}, prompts: {}, completions: {} },
  });
  registerTools(server);
  registerFixedResources(server, ResourceTemplate);
  registerFixturePrompts(server, { z, completable, args: (shape) => z.object(shape) });
  return server;
}

const handler = createMcpHandler(makeServer, { onerror: (e) => console.error(`mcp: ${e.message}`) });
listenMcp(opts, async (req, res) => {
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
  await serveFetch(handler, req, res, raw);
});
