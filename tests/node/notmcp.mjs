// An HTTP server that is not MCP at all: 200 with an HTML page for every request
// (--mode json: 200 application/json that is not JSON-RPC;
//  --mode sse: 200 text/event-stream whose events are not JSON-RPC).
import { listen, parseArgs, readBody, recorder } from './common.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const mode = opts.mode ?? 'html';
listen(opts, async (req, res) => {
  await readBody(req);
  record({ http: req.method, mode });
  if (mode === 'json') {
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
