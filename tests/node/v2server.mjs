// An upstream of the MCP 2026-07-28 era for the gateway's era tests, written
// with the official v2 server package: stateless, server/discover, and tools
// that need input answer with an input-required result (multi-round-trip).
//   --legacy stateless  also serve 2025-era requests (default: reject them,
//                       so that only a client speaking 2026-07-28 gets through)
// Every request is recorded with the headers the gateway must send.
import { McpServer, createMcpHandler, inputRequired, inputResponse, fromJsonSchema } from '@modelcontextprotocol/server';
import { listenMcp, parseArgs, readBody, recorder, serveFetch } from './common.mjs';

const opts = parseArgs();
const record = recorder(opts.record);

function makeServer() {
  const server = new McpServer({ name: 'v2-fixture', version: '2.4.0' });
  server.registerTool('echo', {
    description: 'Echoes text',
    inputSchema: fromJsonSchema({ type: 'object', properties: { text: { type: 'string' } } }),
  }, async (args) => ({ content: [{ type: 'text', text: `echo: ${args?.text ?? ''}` }] }));
  // An argument the request must mirror in the Mcp-Param-Region header.
  server.registerTool('region', {
    description: 'Echoes its region, mirrored in Mcp-Param-Region',
    inputSchema: fromJsonSchema({ type: 'object', properties: {
      region: { type: 'string', 'x-mcp-header': 'Region' } }, required: ['region'] }),
  }, async (args) => ({ content: [{ type: 'text', text: `region=${args?.region}` }] }));
  // Input from the client's model (sampling) in one round.
  server.registerTool('sample', {
    description: 'Asks the client for a completion (sampling), then answers with it',
    inputSchema: fromJsonSchema({ type: 'object', properties: {} }),
  }, async (_args, ctx) => {
    const draft = inputResponse(ctx.mcpReq.inputResponses, 'draft');
    if (draft.kind === 'sampling') return { content: [{ type: 'text', text: `sampled: ${draft.result.content?.text}` }] };
    return inputRequired({ inputRequests: { draft: inputRequired.createMessage({
      messages: [{ role: 'user', content: { type: 'text', text: 'Summarise the weather' } }], maxTokens: 20 }) } });
  });
  // Two rounds of input: a name (elicitation), then a confirmation; the
  // upstream's own requestState carries the name between them.
  server.registerTool('confirm', {
    description: 'Asks for a name, then for a confirmation (input-required results)',
    inputSchema: fromJsonSchema({ type: 'object', properties: {} }),
  }, async (_args, ctx) => {
    const req = ctx.mcpReq;
    const name = inputResponse(req.inputResponses, 'name');
    const ok = inputResponse(req.inputResponses, 'ok');
    record({ tool: 'confirm', inputResponses: req.inputResponses ?? null, requestState: req.requestState?.() ?? null });
    if (ok.kind === 'elicit' && typeof req.requestState?.() === "string" && req.requestState().startsWith('name=')) {
      const who = req.requestState().slice(5);
      return { content: [{ type: 'text', text: ok.action === 'accept' && ok.content?.ok === true
        ? `confirmed for ${who}` : `not confirmed for ${who}` }] };
    }
    if (name.kind === 'elicit') {
      if (name.action !== 'accept') return { content: [{ type: 'text', text: 'declined' }] };
      return inputRequired({
        inputRequests: { ok: inputRequired.elicit({ message: `Go ahead, ${name.content?.name}?`,
          requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } }) },
        requestState: `name=${name.content?.name ?? ''}`,
      });
    }
    return inputRequired({ inputRequests: { name: inputRequired.elicit({ message: 'What is your name?',
      requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } }) } });
  });
  return server;
}

const mcp = createMcpHandler(makeServer, { legacy: opts.legacy === 'stateless' ? 'stateless' : 'reject',
  onerror: (e) => console.error(`v2 fixture: ${e.message}`) });

listenMcp(opts, async (req, res) => {
  const body = req.method === 'POST' ? await readBody(req) : undefined;
  let msg;
  try { msg = body ? JSON.parse(body) : undefined; } catch { msg = undefined; }
  record({
    http: req.method,
    rpc: msg?.method ?? null,
    session: req.headers['mcp-session-id'] ?? null,
    protocol_version: req.headers['mcp-protocol-version'] ?? null,
    mcp_method: req.headers['mcp-method'] ?? null,
    mcp_name: req.headers['mcp-name'] ?? null,
    mcp_param_region: req.headers['mcp-param-region'] ?? null,
    meta_version: msg?.params?._meta?.['io.modelcontextprotocol/protocolVersion'] ?? null,
  });
  await serveFetch(mcp, req, res, body);
});
