// A specialist agent for the orchestration tests (official SDK, low-level
// Server): one tool per task type it serves, named after the type, plus
// handle_task for any other type. Every call is recorded with the arguments
// it received (the delegation context); the answer echoes them.
//   --name NAME        how it names itself in answers (default agent)
//   --tasks a,b        task types it has its own tool for
//   --no-handle-task   offer no handle_task tool
//   --verdict-file F   answer a quality-gate verdict: {passed, detail} from
//                      the file's content at each call (passed | failed)
// The delegation's context steers a call: wait_ms (at most 20 s, ended early
// when the call is cancelled), fail (answer a tool error with that text) and
// nul (a result holding a NUL character).
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, McpError, ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { readFileSync } from 'node:fs';
import { listenMcp, mcpEndpoint, parseArgs, recorder } from './common.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const name = opts.name ?? 'agent';
const types = String(opts.tasks ?? '').split(',').filter(Boolean);
const delegation = {
  type: 'object',
  properties: {
    task_id: { type: 'string' }, requesting_agent: { type: 'string' }, target_agent: { type: 'string' },
    task_type: { type: 'string' }, timestamp: { type: 'string' }, context: { type: 'object' },
    session_preservation: { type: 'object' },
  },
  required: ['task_id', 'task_type', 'context'],
};
const tools = types.map((t) => ({ name: t, description: `Handles task type ${t}`, inputSchema: delegation }));
if (!opts['no-handle-task'])
  tools.push({ name: 'handle_task', description: 'Handles any task type', inputSchema: delegation });

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); });
});

async function call(req, extra) {
  const { name: tool, arguments: args = {} } = req.params;
  if (!tools.some((t) => t.name === tool)) throw new McpError(ErrorCode.InvalidParams, `Tool ${tool} not found`);
  record({ call: tool, args });
  const ctx = args.context ?? {};
  await sleep(Math.min(Math.max(Number(ctx.wait_ms) || 0, 0), 20000), extra.signal);
  record({ done: tool, task_id: args.task_id });
  if (ctx.nul)
    return { content: [{ type: 'text', text: 'nul' }], structuredContent: { text: 'a\u0000b' } };
  if (ctx.fail)
    return { content: [{ type: 'text', text: String(ctx.fail) }], isError: true };
  if (opts['verdict-file']) {
    const passed = readFileSync(opts['verdict-file'], 'utf8').trim() === 'passed';
    return {
      content: [{ type: 'text', text: `${name}: ${args.task_type} ${passed ? 'passed' : 'failed'}` }],
      structuredContent: { passed, detail: `${name} judged ${args.task_type} ${passed ? 'passed' : 'failed'}` },
    };
  }
  return {
    content: [{ type: 'text', text: `${name} handled ${args.task_type}` }],
    structuredContent: { handled_by: name, tool, task_id: args.task_id, received: args },
  };
}

function makeServer() {
  const server = new Server({ name: `agent-${name}`, version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, call);
  return server;
}

const mcp = mcpEndpoint(makeServer, { record });
listenMcp(opts, mcp);
