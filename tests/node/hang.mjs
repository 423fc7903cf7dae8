// An upstream that accepts connections and requests and never answers (with
// --after-headers it sends the SSE headers, then nothing).
import { listen, parseArgs, recorder } from './common.mjs';

const opts = parseArgs();
const record = recorder(opts.record);
const held = new Set();
listen(opts, (req, res) => {
  record({ http: req.method, hung: true });
  held.add(res);
  res.on('close', () => held.delete(res));
  if (opts['after-headers']) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
  }
  // Nothing more, ever: the client's deadline is what ends this.
});
