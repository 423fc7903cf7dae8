// An HTTP server that is not MCP at all: 200 with an HTML page for every request
// (--mode json: 200 application/json that is not JSON-RPC;
//  --mode sse: 200 text/event-stream whose events are not JSON-RPC;
//  --mode rpc-error: a JSON-RPC error answering whatever was asked;
//  --mode big: 200 application/json of 9 MiB).
import { listen, parseArgs, readBody, recorder } from './common.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const mode = opts.mode ?? 'html';
listen(opts, async (req, res) => {
  const body = await readBody(req);
  record({ http: req.method, mode });
  if (mode === 'rpc-error') {
    let id = null;
    try { id = JSON.parse(body).id ?? null; } catch { /* not JSON: id stays null */ }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32603, message: 'initialization refused by policy' } }));
  } else if (mode === 'big') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"jsonrpc":"2.0","id":1,"result":{"padding":"${'x'.repeat(9 * 1024 * 1024)}"}}`);
  } else if (mode === 'json') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', message: 'this is a REST API' }));
  } else if (mode === 'sse') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('event: hello\ndata: {"greeting":"not json-rpc"}\n\n');
  } else {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>\n');
  }
});
