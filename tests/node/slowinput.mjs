// A bare upstream of the MCP 2026-07-28 era (no SDK) whose tool "ask" takes
// --delay ms per call and answers with an input-required result --rounds
// times before completing; "echo" (and "café") answer at once. Every request is recorded
// with its headers. For the call-slot and upstream-header tests.
import { listen, parseArgs, readBody, recorder } from './common.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const delay = Number(opts.delay ?? 0);
const rounds = Number(opts.rounds ?? 1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function result(msg) {
  const p = msg.params ?? {};
  switch (msg.method) {
  case 'server/discover':
    return { supportedVersions: ['2026-07-28'], capabilities: { tools: {} },
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'slowinput', version: '1' } } };
  case 'tools/list':
    return { tools: [{ name: 'ask', inputSchema: { type: 'object' } }, { name: 'echo', inputSchema: { type: 'object' } },
      { name: 'café', inputSchema: { type: 'object' } }] };
  default:
    return null;
  }
}

listen(opts, async (req, res) => {
  const body = req.method === 'POST' ? await readBody(req) : '';
  let msg;
  try { msg = JSON.parse(body); } catch { msg = undefined; }
  record({ url: req.url, rpc: msg?.method ?? null, name: msg?.params?.name ?? null, requestState: msg?.params?.requestState ?? null,
    headers: req.headers });
  if (msg === undefined || msg.id === undefined) {
    res.writeHead(202);
    res.end();
    return;
  }
  let r = result(msg);
  if (r === null && msg.method === 'tools/call' && ['echo', 'café'].includes(msg.params?.name)) {
    r = { resultType: 'complete', content: [{ type: 'text', text: msg.params.name === 'echo' ? 'echo' : 'café' }] };
  } else if (r === null && msg.method === 'tools/call' && msg.params?.name === 'ask') {
    const round = Number(msg.params?.requestState ?? 0);
    await sleep(delay);
    r = round < rounds
      ? { resultType: 'input_required', requestState: String(round + 1), inputRequests: { q: { method: 'elicitation/create',
          params: { message: `round ${round + 1}?`, requestedSchema: { type: 'object', properties: {} } } } } }
      : { resultType: 'complete', content: [{ type: 'text', text: `done after ${round} rounds` }] };
  }
  const answer = r === null ? { jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } }
    : { jsonrpc: '2.0', id: msg.id, result: r };
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(answer));
});
