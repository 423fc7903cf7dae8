// A burst of concurrent HTTPS requests from one process (200 curl processes
// would spend the test machine's CPU on themselves, not on the gateway).
//   burst.mjs --url URL --count N --timeout-ms MS --ca FILE
//             [--method POST] [--header 'Name: value']... [--body TEXT]
// "{n}" in the body is replaced by the request's number (1..N). Prints one
// line per request, "N STATUS MS BODY" (STATUS 000 when it failed or timed
// out, BODY on one line), then exits 0; the caller judges the answers.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const opts = { method: 'GET', header: [] };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
  if (key === 'header') opts.header.push(argv[i + 1]);
  else opts[key] = argv[i + 1];
}
for (const need of ['url', 'count', 'timeout-ms', 'ca'])
  if (!opts[need]) throw new Error(`--${need} is required`);
const ca = readFileSync(opts.ca);
const count = Number(opts.count);
const timeoutMs = Number(opts['timeout-ms']);
const headers = {};
for (const h of opts.header) {
  const at = h.indexOf(':');
  headers[h.slice(0, at).trim()] = h.slice(at + 1).trim();
}

function one(n) {
  return new Promise((resolve) => {
    const start = Date.now();
    const body = opts.body === undefined ? undefined : opts.body.replaceAll('{n}', String(n));
    const h = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    let done = false, timer;
    const finish = (status, text) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(`${n} ${status} ${Date.now() - start} ${text.replace(/\s+/g, ' ')}`);
    };
    // No keep-alive agent: each request its own connection, as separate clients.
    const req = request(opts.url, { method: opts.method, headers: h, ca, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => finish(String(res.statusCode), Buffer.concat(chunks).toString('utf8')));
      res.on('error', (e) => finish('000', e.message));
    });
    // A deadline for the whole exchange, not for each pause in it.
    timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => finish('000', e.message));
    req.end(body);
  });
}

const lines = await Promise.all(Array.from({ length: count }, (_, i) => one(i + 1)));
process.stdout.write(lines.join('\n') + '\n');
