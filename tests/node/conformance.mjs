// The server the MCP conformance suite (`conformance server --requirements
// 2025-11-25`) expects: its fixture tools, resources and prompts, stateful
// Streamable HTTP on /mcp with the official SDK, and DNS rebinding protection.
//   --allowed-hosts LIST  host names accepted in Host and Origin (comma separated;
//                         default 127.0.0.1,localhost,[::1]; any port)
//   --token T (or $FIXTURE_TOKEN)  require "Authorization: Bearer T" (401 otherwise)
//   --watch-interval MS   how often test://watched-resource changes (default 3000)
//   --retry-ms MS         the SSE retry hint of its resumable streams (default 1000)
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import {
  ListToolsRequestSchema, LoggingLevelSchema, SetLevelRequestSchema, SubscribeRequestSchema, UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { hostGuard, listenMcp, mcpEndpoint, parseArgs, recorder } from './common.mjs';
import {
  SCHEMA_2020_12, SCHEMA_2020_12_TOOL, registerContentTools, registerFixedResources, registerFixturePrompts, sleep, text,
} from './fixture_content.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const token = opts.token ?? process.env.FIXTURE_TOKEN;
const hostAllowed = hostGuard(opts);
const watchInterval = Number(opts['watch-interval'] ?? 3000);
const retryMs = Number(opts['retry-ms'] ?? 1000);

const LEVELS = LoggingLevelSchema.options;

// test://watched-resource changes on a timer; sessions subscribed to it hear
// notifications/resources/updated until they unsubscribe or close.
let watchedRevision = 0;
const watchers = new Set();
setInterval(() => {
  watchedRevision++;
  for (const notify of watchers) notify('test://watched-resource');
}, watchInterval).unref();

// Resumable SSE streams (SEP-1699): events are kept, ids are STREAM/SEQ, and a
// client that lost a stream gets the rest of it with Last-Event-ID. Bounded:
// the oldest events go first.
const EVENTS_MAX = 10000;
function memoryEventStore() {
  const events = new Map();
  let seq = 0;
  const streamOf = (id) => id.slice(0, id.lastIndexOf('/'));
  return {
    async storeEvent(streamId, message) {
      const id = `${streamId}/${++seq}`;
      events.set(id, { streamId, seq, message });
      if (events.size > EVENTS_MAX) events.delete(events.keys().next().value);
      return id;
    },
    async getStreamIdForEventId(id) {
      return events.get(id)?.streamId;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const last = events.get(lastEventId);
      if (!last) throw new Error(`unknown event id ${lastEventId}`);
      for (const [id, e] of events) {
        // Priming events carry no message: nothing to replay.
        if (e.streamId === last.streamId && e.seq > last.seq && Object.keys(e.message).length > 0)
          await send(id, e.message);
      }
      return streamOf(lastEventId);
    },
  };
}

function registerTools(server, log) {
  const none = { inputSchema: {} };
  registerContentTools(server, none);
  server.registerTool('test_tool_with_logging', { description: 'Logs three messages while it runs', ...none },
    async (_args, extra) => {
      await log(extra, 'info', 'Tool execution started');
      await sleep(50);
      await log(extra, 'info', 'Tool processing data');
      await sleep(50);
      await log(extra, 'info', 'Tool execution completed');
      return text('Tool with logging executed successfully');
    });
  server.registerTool('test_tool_with_progress', { description: 'Reports progress 0, 50 and 100 of 100', ...none },
    async (_args, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) {
          await extra.sendNotification({ method: 'notifications/progress',
            params: { progressToken, progress, total: 100, message: `${progress} of 100` } });
        }
        if (progress < 100) await sleep(50);
      }
      return text(`Progress reported${progressToken === undefined ? ' (no progress token)' : ''}`);
    });
  // Ends the call's SSE stream before answering: the answer reaches a client
  // that resumes the stream with Last-Event-ID (SEP-1699).
  server.registerTool('test_reconnection', { description: 'Closes its stream, then answers on the resumed one', ...none },
    async (_args, extra) => {
      extra.closeSSEStream?.();
      await sleep(100);
      return text('Answered after the stream was closed');
    });
  // Its calls are validated by this shape; tools/list shows SCHEMA_2020_12.
  server.registerTool(SCHEMA_2020_12_TOOL, { description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: { name: z.string().optional(), contactMethod: z.enum(['phone', 'email']).optional(),
      phone: z.string().optional(), email: z.string().optional(),
      address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional() } },
  async (args) => text(`${SCHEMA_2020_12_TOOL} called with ${JSON.stringify(args)}`));
  // Server-to-client requests travel on the tool call's own SSE stream
  // (relatedRequestId), so a client or proxy without a GET stream sees them.
  server.registerTool('test_sampling', { description: 'Asks the client to sample an LLM',
    inputSchema: { prompt: z.string().describe('The prompt to send to the LLM') } },
  async ({ prompt }, extra) => {
    const r = await server.server.createMessage({
      messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100,
    }, { relatedRequestId: extra.requestId });
    return text(`LLM response: ${r.content?.type === 'text' ? r.content.text : JSON.stringify(r.content)}`);
  });
  const elicit = (name, description, message, properties, required, reply) => {
    const shape = name === 'test_elicitation'
      ? { message: z.string().describe('The message to show the user') } : {};
    server.registerTool(name, { description, inputSchema: shape }, async (args, extra) => {
      const r = await server.server.elicitInput({ mode: 'form', message: args.message ?? message,
        requestedSchema: { type: 'object', properties, required } }, { relatedRequestId: extra.requestId });
      return text(`${reply}: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
    });
  };
  elicit('test_elicitation', 'Asks the user for a name and an email address', null, {
    username: { type: 'string', description: "User's response" },
    email: { type: 'string', description: "User's email address" },
  }, ['username', 'email'], 'User response');
  elicit('test_elicitation_sep1034_defaults', 'Elicitation whose fields all have defaults (SEP-1034)',
    'Please review and update the form fields with defaults', {
      name: { type: 'string', description: 'User name', default: 'John Doe' },
      age: { type: 'integer', description: 'User age', default: 30 },
      score: { type: 'number', description: 'User score', default: 95.5 },
      status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
      verified: { type: 'boolean', description: 'Verification status', default: true },
    }, [], 'Elicitation completed');
  const titled = (prefix, titles) => titles.map((title, i) => ({ const: `value${i + 1}`, title: `${title} ${prefix}` }));
  elicit('test_elicitation_sep1330_enums', 'Elicitation with the five enum forms (SEP-1330)',
    'Please select options from the enum fields', {
      untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
      titledSingle: { type: 'string', description: 'Select one option with titles',
        oneOf: titled('Option', ['First', 'Second', 'Third']) },
      legacyEnum: { type: 'string', description: 'Select one option (legacy)', enum: ['opt1', 'opt2', 'opt3'],
        enumNames: ['Option One', 'Option Two', 'Option Three'] },
      untitledMulti: { type: 'array', description: 'Select multiple options', minItems: 1, maxItems: 3,
        items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
      titledMulti: { type: 'array', description: 'Select multiple options with titles', minItems: 1, maxItems: 3,
        items: { anyOf: titled('Choice', ['First', 'Second', 'Third']) } },
    }, [], 'Elicitation completed');
}

function registerResources(server) {
  const fixed = registerFixedResources(server, ResourceTemplate);
  fixed('watched-resource', 'test://watched-resource', `Changes every ${watchInterval} ms; subscribe to hear of it`,
    'text/plain', () => ({ text: `Watched resource content, revision ${watchedRevision}` }));
}

function makeServer() {
  const server = new McpServer({ name: 'conformance-fixture', version: '1.0.0' }, {
    capabilities: { tools: {}, resources: { subscribe: true }, prompts: {}, logging: {}, completions: {} },
  });
  // The session's logging/setLevel threshold (none set: everything is sent).
  let threshold = null;
  server.server.setRequestHandler(SetLevelRequestSchema, async (req) => {
    threshold = req.params.level;
    return {};
  });
  const log = (extra, level, data) => {
    if (threshold && LEVELS.indexOf(level) < LEVELS.indexOf(threshold)) return Promise.resolve();
    return extra.sendNotification({ method: 'notifications/message',
      params: { level, logger: 'conformance-fixture', data } });
  };
  const subscriptions = new Set();
  const notify = (uri) => {
    if (subscriptions.has(uri)) server.server.sendResourceUpdated({ uri }).catch(() => {});
  };
  server.server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    subscriptions.add(req.params.uri);
    watchers.add(notify);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    if (subscriptions.size === 0) watchers.delete(notify);
    return {};
  });
  server.server.onclose = () => watchers.delete(notify);
  registerTools(server, log);
  registerResources(server);
  registerFixturePrompts(server, { z, completable, args: (shape) => shape });
  // McpServer derives input schemas from zod and would drop the 2020-12
  // keywords: wrap its tools/list handler (the SDK's own, kept in its
  // request handler table) and put the schema as written in place.
  const sdkList = server.server._requestHandlers.get('tools/list');
  server.server.setRequestHandler(ListToolsRequestSchema, async (req, extra) => {
    const result = await sdkList(req, extra);
    return { ...result, tools: result.tools.map((t) => (t.name === SCHEMA_2020_12_TOOL
      ? { ...t, inputSchema: SCHEMA_2020_12 } : t)) };
  });
  return server;
}

function refuse(res, status, message, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } }));
}

const mcp = mcpEndpoint(makeServer, { record,
  transport: { eventStore: memoryEventStore(), retryInterval: retryMs } });
listenMcp(opts, (req, res) => {
  if (!hostAllowed(req.headers.host, false) || !hostAllowed(req.headers.origin, true)) {
    record({ http: req.method, refused: 'host', host: req.headers.host ?? null, origin: req.headers.origin ?? null });
    refuse(res, 403, 'Forbidden: Host or Origin not allowed');
    return;
  }
  if (token && req.headers.authorization !== `Bearer ${token}`) {
    record({ http: req.method, refused: req.headers.authorization === undefined ? 'missing' : 'wrong' });
    refuse(res, 401, 'Unauthorized', { 'www-authenticate': 'Bearer error="invalid_token"' });
    return;
  }
  return mcp(req, res);
});
