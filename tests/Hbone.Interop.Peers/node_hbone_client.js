#!/usr/bin/env node
// An independent HBONE client on Node's built-in http2 (nghttp2): one CONNECT over mutual TLS 1.3, ALPN h2.
// A peer we did not write, for testing our HBONE *server*, in particular a graceful GOAWAY: nghttp2 lets the
// open stream finish after GOAWAY(NO_ERROR), where python3-h2 stops sending.
//
// Once the server answers 200, stdin goes out as DATA (END_STREAM at stdin's EOF) and DATA comes out on stdout.
// stderr: status=<code>, goaway=<error code> last=<stream id>, reset=<error code>, ended, closed, error=<text>.
// Exit codes: 0 200 and both directions ended cleanly; 2 another status; 3 reset; 4 connection lost first; 1 usage.
'use strict';

const fs = require('fs');
const http2 = require('http2');

function usage(message) {
  process.stderr.write(`error=${message}\n` +
    'usage: node node_hbone_client.js --server HOST:PORT --cert PEM --key PEM --ca PEM --authority HOST:PORT\n');
  process.exit(1);
}

const args = {};
const names = { '--server': 'server', '--cert': 'cert', '--key': 'key', '--ca': 'ca', '--authority': 'authority' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  if (!names[argv[i]] || argv[i + 1] === undefined) usage(`bad argument ${argv[i]}`);
  args[names[argv[i]]] = argv[i + 1];
}
for (const name of Object.values(names)) if (!args[name]) usage(`missing --${name}`);

const log = (line) => process.stderr.write(line + '\n');
let status = 0;
let result = null;
const finish = (code) => { if (result === null) { result = code; } };

const session = http2.connect(`https://${args.server}`, {
  ca: fs.readFileSync(args.ca), cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key),
  minVersion: 'TLSv1.3',
  // SPIFFE certificates carry a URI SAN only: the chain is verified, the host name is not.
  checkServerIdentity: () => undefined,
});
session.on('goaway', (code, lastStreamId) => log(`goaway=${code} last=${lastStreamId}`));
session.on('error', (error) => { log(`error=${error.message}`); finish(4); });
session.on('close', () => { log('closed'); finish(4); process.exit(result); });

const stream = session.request({ ':method': 'CONNECT', ':authority': args.authority }, { endStream: false });
stream.on('response', (headers) => {
  status = headers[':status'];
  log(`status=${status}`);
  if (status !== 200) { finish(2); return; }
  process.stdin.pipe(stream);
});
stream.on('data', (chunk) => process.stdout.write(chunk));
stream.on('end', () => log('ended'));
stream.on('close', () => {
  if (stream.rstCode && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) { log(`reset=${stream.rstCode}`); finish(3); }
  else if (status === 200) { finish(0); }
  session.close();
});
stream.on('error', (error) => log(`error=${error.message}`));
