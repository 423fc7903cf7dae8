// A real MCP client of the new generation (official v2 client package) for the
// era tests: connects in the era asked for, lists tools, calls a tool with
// --args, answering elicitations from --answers (one JSON object per request,
// in order), and prints one JSON line per check:
//   {"check": "...", "ok": true|false, "detail": "..."}
//   --url U --token-file F --era legacy|modern --tool NAME [--args JSON]
//   [--answers JSON-ARRAY] [--expect TEXT] [--expect-elicitations N]
import { readFileSync } from 'node:fs';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const opts = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) opts[argv[i].replace(/^--/, '')] = argv[i + 1];
const report = (check, ok, detail = '') => console.log(JSON.stringify({ check, ok: !!ok, detail: String(detail) }));
const token = opts['token-file'] ? readFileSync(opts['token-file'], 'utf8').trim() : null;
const answers = JSON.parse(opts.answers ?? '[]');
const asked = [];

const client = new Client({ name: 'v2-e2e', version: '2.4.0' }, {
  capabilities: { elicitation: { form: {} }, sampling: {} },
  versionNegotiation: opts.era === 'modern' ? { mode: { pin: '2026-07-28' } } : { mode: 'legacy' },
});
client.setRequestHandler('elicitation/create', async (req) => {
  asked.push(req.params.message);
  console.error(`elicitation: ${JSON.stringify(req)}`);
  const a = answers[asked.length - 1];
  return a ? { action: 'accept', content: a } : { action: 'decline' };
});
client.setRequestHandler('sampling/createMessage', async () => ({
  role: 'assistant', content: { type: 'text', text: 'a summary' }, model: 'v2-e2e-model' }));
const transport = new StreamableHTTPClientTransport(new URL(opts.url), {
  requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
});

try {
  await client.connect(transport);
  const version = client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion ?? '';
  report(`connects in the ${opts.era} era (${version})`,
    opts.era === 'modern' ? version === '2026-07-28' : version !== '2026-07-28' && version !== '', version);
  const tools = await client.listTools();
  const names = tools.tools.map((t) => t.name);
  report(`lists ${opts.tool}`, names.includes(opts.tool), names.join(','));
  const r = await client.callTool({ name: opts.tool, arguments: JSON.parse(opts.args ?? '{}') });
  const text = (r.content ?? []).map((c) => c.text ?? '').join(' ');
  report(`${opts.tool} answers "${opts.expect}"`, text.includes(opts.expect ?? ''), JSON.stringify(r));
  if (opts['expect-elicitations'] !== undefined)
    report(`${opts['expect-elicitations']} elicitations were asked`, asked.length === Number(opts['expect-elicitations']),
      JSON.stringify(asked));
} catch (e) {
  report('the session ran without an error', false, e.stack || e);
} finally {
  await client.close().catch(() => {});
}
