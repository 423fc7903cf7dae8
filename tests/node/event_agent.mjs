// An agent that handles events, as the gateway's event delivery sees it (official SDK,
// low-level Server): one tool per name in --tools (comma-separated, e.g.
// handle_authentication_failure,handle_task), each answering with what it was
// given. Every call is appended to --calls FILE as one JSON line
// {tool, arguments, outcome}, so that tests can count deliveries.
//   --fail-first N   the first N calls of any tool fail (isError: true)
//   --fail-all       every call fails (a broken agent)
//   --delay-ms N     every call takes N ms before it answers (a slow agent)
import { appendFileSync } from 'node:fs';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, McpError, ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { listenMcp, mcpEndpoint, parseArgs, recorder } from './common.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const names = String(opts.tools ?? 'handle_task').split(',').filter(Boolean);
let failLeft = Number(opts['fail-first'] ?? 0);
const delayMs = Math.max(Number(opts['delay-ms'] ?? 0), 0);
const tools = names.map((name) => ({
  name,
  description: `Agent tool ${name}: acknowledges what it is given`,
  inputSchema: { type: 'object' },
}));

function note(entry) {
  if (opts.calls) appendFileSync(opts.calls, JSON.stringify({ t: Date.now(), ...entry }) + '\n');
}

function makeServer() {
  const server = new Server({ name: opts.name ?? 'agent-fixture', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const { name, arguments: args } = req.params;
    if (!names.includes(name)) throw new McpError(ErrorCode.InvalidParams, `unknown tool ${name}`);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (opts['fail-all'] || failLeft > 0) {
      if (failLeft > 0) failLeft--;
      note({ tool: name, arguments: args, outcome: 'failed' });
      return { isError: true, content: [{ type: 'text', text: `agent ${opts.name ?? ''} is failing on purpose` }] };
    }
    note({ tool: name, arguments: args, outcome: 'ok' });
    return { content: [{ type: 'text', text: `handled ${name}` }], structuredContent: { handled: name } };
  });
  return server;
}

const mcp = mcpEndpoint(makeServer, { record });
listenMcp(opts, mcp);
