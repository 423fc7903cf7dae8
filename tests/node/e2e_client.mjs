// A real MCP client (the official SDK's Client over StreamableHTTPClientTransport)
// for the end-to-end tests: connect with a bearer token, list the tools, call
// one with a progress token, end the session with DELETE, and prove the ended
// session is refused. One JSON line per check on stdout:
//   {"check":"...","ok":true|false,"detail":"..."}
// Exits 1 when any check failed, 2 on bad usage.
//   --url URL           the MCP endpoint (https:// trusts NODE_EXTRA_CA_CERTS)
//   --token-file FILE   bearer token (a command line is readable by every local user)
//   --tool NAME         the tool to call;   --args JSON   its arguments (default {})
//   --expect TEXT       text the result's content must hold
//   --min-progress N    progress notifications the call must deliver (default 0)
import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';

const opts = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
    console.error(`usage: e2e_client.mjs --url URL --tool NAME [--token-file F] [--args JSON] [--expect TEXT] [--min-progress N]`);
    process.exit(2);
  }
  opts[argv[i].slice(2)] = argv[i + 1];
}
if (!opts.url || !opts.tool) {
  console.error('e2e_client.mjs: --url and --tool are required');
  process.exit(2);
}
const token = opts['token-file'] ? readFileSync(opts['token-file'], 'utf8').trim() : null;
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const minProgress = Number(opts['min-progress'] ?? 0);
let failed = 0;
const report = (check, ok, detail = '') => {
  if (!ok) failed++;
  console.log(JSON.stringify({ check, ok, detail: String(detail).slice(0, 600) }));
  return ok;
};

async function main() {
  const transport = new StreamableHTTPClientTransport(new URL(opts.url), { requestInit: { headers } });
  const client = new Client({ name: 'e2e-client', version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (err) {
    report('the SDK client connects (initialize, initialized)', false, err.message);
    return;
  }
  const sid = transport.sessionId;
  report('the SDK client connects and gets a session id', Boolean(sid),
    `session ${sid}, protocol ${transport.protocolVersion ?? LATEST_PROTOCOL_VERSION}, server ${JSON.stringify(client.getServerVersion())}`);

  // Every page of the list, as a client walks the cursors.
  const names = [];
  try {
    let cursor;
    do {
      const page = await client.listTools(cursor ? { cursor } : {});
      names.push(...page.tools.map((t) => t.name));
      cursor = page.nextCursor;
    } while (cursor);
    report(`tools/list names ${opts.tool}`, names.includes(opts.tool), names.join(' '));
  } catch (err) {
    report(`tools/list names ${opts.tool}`, false, err.message);
  }

  const progress = [];
  try {
    const result = await client.callTool({ name: opts.tool, arguments: JSON.parse(opts.args ?? '{}') }, undefined,
      { onprogress: (p) => progress.push(p), timeout: 20000 });
    const text = (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
    report(`tools/call ${opts.tool} succeeds`, result.isError !== true, text);
    if (opts.expect !== undefined)
      report(`tools/call ${opts.tool} answers with "${opts.expect}"`, text.includes(opts.expect), text);
  } catch (err) {
    report(`tools/call ${opts.tool} succeeds`, false, err.message);
  }
  const rising = progress.every((p, i) => i === 0 || p.progress > progress[i - 1].progress);
  report(`tools/call ${opts.tool} delivers at least ${minProgress} progress notifications, rising`,
    progress.length >= minProgress && rising, JSON.stringify(progress));

  try {
    await transport.terminateSession();
    report('the session ends with DELETE', transport.sessionId === undefined, `session ${sid}`);
  } catch (err) {
    report('the session ends with DELETE', false, err.message);
  }
  // The ended session must not be usable any more: 404, as the spec says.
  const res = await fetch(opts.url, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
      'Mcp-Session-Id': sid, 'MCP-Protocol-Version': transport.protocolVersion ?? LATEST_PROTOCOL_VERSION },
    body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'ping' }),
  });
  await res.text();
  report('the ended session is refused with 404', res.status === 404, `HTTP ${res.status}`);
  await client.close();
}

await main().catch((err) => report('the client runs to its end', false, err.stack || err.message));
process.exit(failed ? 1 : 0);
