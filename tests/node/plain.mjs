// A plain upstream MCP server (official SDK, low-level Server): tools, prompts
// and resources served in pages of --page-size, SSE answers (--json for JSON).
//   --tools N          how many tools (default 5)
//   --tools-file FILE  read the tool list (JSON array) from FILE on every tools/list
//   --no-prompts, --no-resources   do not offer those capabilities
//   --templates N      also list N resource templates (resources/templates/list)
import { readFileSync } from 'node:fs';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema, GetPromptRequestSchema, ListPromptsRequestSchema,
  ListResourcesRequestSchema, ListResourceTemplatesRequestSchema, ListToolsRequestSchema, ReadResourceRequestSchema, McpError, ErrorCode,
} from '@modelcontextprotocol/sdk/types.js';
import { listenMcp, mcpEndpoint, parseArgs, recorder } from './common.mjs';

const opts = parseArgs();
const pageSize = Number(opts['page-size'] ?? 2);
const record = recorder(opts.record);

function defaultTools(n) {
  const tools = [];
  for (let i = 1; i <= n; i++) {
    tools.push({
      name: `tool_${i}`,
      title: `Tool ${i}`,
      description: `Echoes its text argument (tool ${i})`,
      inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
      outputSchema: { type: 'object', properties: { echo: { type: 'string' } }, required: ['echo'] },
      annotations: { readOnlyHint: true, idempotentHint: i % 2 === 0 },
    });
  }
  return tools;
}
const tools = () => (opts['tools-file'] ? JSON.parse(readFileSync(opts['tools-file'], 'utf8'))
  : defaultTools(Number(opts.tools ?? 5)));
const prompts = [1, 2, 3].map((i) => ({
  name: `prompt_${i}`, description: `Prompt ${i}`,
  arguments: [{ name: 'topic', description: 'what to talk about', required: i === 1 }],
}));
const resources = [1, 2, 3].map((i) => ({
  uri: `test://resource/${i}`, name: `resource_${i}`, mimeType: 'text/plain', description: `Resource ${i}`,
}));

// Opaque cursors: the offset, base64 encoded; anything else is an invalid params error.
function page(items, cursor) {
  let start = 0;
  if (cursor !== undefined) {
    start = Number(Buffer.from(cursor, 'base64').toString('utf8'));
    if (!Number.isInteger(start) || start < 0 || start > items.length)
      throw new McpError(ErrorCode.InvalidParams, 'bad cursor');
  }
  const end = start + pageSize;
  return { items: items.slice(start, end),
    nextCursor: end < items.length ? Buffer.from(String(end)).toString('base64') : undefined };
}

function makeServer() {
  const capabilities = { tools: { listChanged: false } };
  if (!opts['no-prompts']) capabilities.prompts = {};
  if (!opts['no-resources']) capabilities.resources = {};
  const server = new Server({ name: 'plain-fixture', version: '1.0.0' }, { capabilities });
  server.setRequestHandler(ListToolsRequestSchema, (req) => {
    const p = page(tools(), req.params?.cursor);
    return { tools: p.items, ...(p.nextCursor ? { nextCursor: p.nextCursor } : {}) };
  });
  server.setRequestHandler(CallToolRequestSchema, (req) => {
    const text = String(req.params.arguments?.text ?? '');
    return { content: [{ type: 'text', text }], structuredContent: { echo: text } };
  });
  if (capabilities.prompts) {
    server.setRequestHandler(ListPromptsRequestSchema, (req) => {
      const p = page(prompts, req.params?.cursor);
      return { prompts: p.items, ...(p.nextCursor ? { nextCursor: p.nextCursor } : {}) };
    });
    server.setRequestHandler(GetPromptRequestSchema, (req) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Talk about ${req.params.arguments?.topic ?? 'anything'}` } }],
    }));
  }
  if (capabilities.resources) {
    server.setRequestHandler(ListResourcesRequestSchema, (req) => {
      const p = page(resources, req.params?.cursor);
      return { resources: p.items, ...(p.nextCursor ? { nextCursor: p.nextCursor } : {}) };
    });
    if (opts.templates) {
      const templates = Array.from({ length: Number(opts.templates) }, (_, i) => ({
        uriTemplate: `test://template/${i + 1}/{id}`, name: `template_${i + 1}`, mimeType: 'text/plain',
      }));
      server.setRequestHandler(ListResourceTemplatesRequestSchema, (req) => {
        const p = page(templates, req.params?.cursor);
        return { resourceTemplates: p.items, ...(p.nextCursor ? { nextCursor: p.nextCursor } : {}) };
      });
    }
    server.setRequestHandler(ReadResourceRequestSchema, (req) => ({
      contents: [{ uri: req.params.uri, mimeType: 'text/plain', text: `contents of ${req.params.uri}` }],
    }));
  }
  return server;
}

const mcp = mcpEndpoint(makeServer, { record, json: Boolean(opts.json) });
listenMcp(opts, mcp);
