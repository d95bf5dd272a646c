#!/usr/bin/env node
// An independent HBONE server on Node's built-in http2 (nghttp2): HTTP/2 CONNECT over mutual TLS 1.3, ALPN h2.
// A peer we did not write, for testing our HBONE client against. No npm packages.
//
// Per stream: not CONNECT -> 400; CONNECT -> TCP connect to :authority (10 s) -> 503 on failure, else 200 (only
// after the connect) and a two-way pipe with half-close (client END_STREAM -> upstream FIN, upstream FIN ->
// END_STREAM). Upstream ECONNRESET -> RST_STREAM CONNECT_ERROR; client RST_STREAM -> upstream TCP RST.
// nghttp2 itself answers a malformed CONNECT (missing :authority, or :scheme/:path present) with RST_STREAM
// PROTOCOL_ERROR before this code sees it: that, not 400, is what this peer does for a missing :authority.
//
// stdout: "listening on HOST:PORT" once bound. stderr: one "stream ..." line per stream, "conn ..." lines per
// connection. Exits 0 on SIGTERM/SIGINT.
'use strict';

const fs = require('fs');
const http2 = require('http2');
const net = require('net');

const { HTTP2_METHOD_CONNECT, NGHTTP2_CONNECT_ERROR, NGHTTP2_CANCEL } = http2.constants;
const CONNECT_TIMEOUT_MS = 10000;
const BAGGAGE = 'k8s.cluster.name=peer-cluster,k8s.namespace.name=peer,k8s.deployment.name=node-hbone-server,' +
  'service.name=node-hbone-server,service.version=v1';

function usage(message) {
  process.stderr.write(`error=${message}\n` +
    'usage: node node_hbone_server.js --listen HOST:PORT --cert PEM --key PEM --ca PEM\n' +
    '         [--max-concurrent-streams N=100] [--initial-window N=4194304] [--connection-window N=16777216]\n' +
    '         [--goaway-after N] [--reset-connection-after N] [--idle-timeout SECONDS=300]\n');
  process.exit(1);
}

function parseArgs(argv) {
  const args = { maxConcurrentStreams: 100, initialWindow: 4 * 1024 * 1024, connectionWindow: 16 * 1024 * 1024,
    goawayAfter: 0, resetConnectionAfter: 0, idleTimeout: 300 };
  const names = { '--listen': 'listen', '--cert': 'cert', '--key': 'key', '--ca': 'ca',
    '--max-concurrent-streams': 'maxConcurrentStreams', '--initial-window': 'initialWindow',
    '--connection-window': 'connectionWindow', '--goaway-after': 'goawayAfter',
    '--reset-connection-after': 'resetConnectionAfter', '--idle-timeout': 'idleTimeout' };
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--help' || argv[i] === '-h') usage('help');
    const name = names[argv[i]];
    if (!name || i + 1 >= argv.length) usage(`unknown or incomplete argument ${argv[i]}`);
    args[name] = typeof args[name] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
    if (Number.isNaN(args[name])) usage(`${argv[i]} needs a number`);
  }
  for (const required of ['listen', 'cert', 'key', 'ca']) if (!args[required]) usage(`--${required} is required`);
  const target = parseHostPort(args.listen, true);
  if (!target) usage(`--listen expects HOST:PORT, got ${args.listen}`);
  args.host = target.host;
  args.port = target.port;
  return args;
}

// HOST:PORT or [v6]:PORT; null when it does not parse (an unbracketed IPv6 literal is ambiguous).
function parseHostPort(text, allowZero) {
  const m = /^(\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(text || '');
  if (!m) return null;
  const port = Number(m[4]);
  if (port > 65535 || (port === 0 && !allowZero)) return null;
  return { host: m[2] || m[3], port };
}

function log(line) {
  process.stderr.write(line + '\n');
}

const args = parseArgs(process.argv.slice(2));
let connections = 0;

const server = http2.createSecureServer({
  cert: fs.readFileSync(args.cert),
  key: fs.readFileSync(args.key),
  ca: fs.readFileSync(args.ca),
  requestCert: true, // HBONE: the client SVID is mandatory
  rejectUnauthorized: true,
  minVersion: 'TLSv1.3',
  ALPNProtocols: ['h2'],
  allowHTTP1: false,
  maxSessionMemory: 512, // MB; nghttp2's default 10 MB refuses streams under a 200-tunnel load
  settings: {
    maxConcurrentStreams: args.maxConcurrentStreams,
    initialWindowSize: args.initialWindow,
    maxHeaderListSize: 64 * 1024,
    enablePush: false,
  },
});

server.on('session', (session) => {
  const n = ++connections;
  const socket = session.socket; // a proxy: reading properties is fine, manipulating it throws
  const cert = socket.getPeerCertificate();
  const identity = ((cert && cert.subjectaltname) || '-').replace(/^URI:/, '');
  log(`conn n=${n} peer=${socket.remoteAddress}:${socket.remotePort} open tls=${socket.getProtocol()} ` +
    `alpn=${socket.alpnProtocol} identity=${identity}`);
  session.n = n;
  session.answered = 0;
  session.tunnels = new Set();
  session.setTimeout(args.idleTimeout * 1000, () => session.close()); // bounded idle connection
  session.on('localSettings', () => {
    // connection window larger than 4x the stream window, so one slow stream does not stall the others
    if (session.state && session.state.effectiveLocalWindowSize < args.connectionWindow) {
      session.setLocalWindowSize(args.connectionWindow);
    }
  });
  session.on('goaway', (code, lastStreamId) => log(`conn n=${n} client-goaway error=${code} last_stream_id=${lastStreamId}`));
  session.on('error', (err) => log(`conn n=${n} error=${err.code || err.message}`));
  session.on('close', () => log(`conn n=${n} closed streams=${session.answered}`));
});

server.on('secureConnection', (tlsSocket) => tlsSocket.setNoDelay(true));

server.on('tlsClientError', (err, tlsSocket) => {
  log(`conn tls-error=${err.code || err.message} peer=${tlsSocket.remoteAddress}:${tlsSocket.remotePort}`);
});

server.on('stream', (stream, headers) => {
  const session = stream.session;
  const started = Date.now();
  const tunnel = { authority: headers[':authority'] || '-', status: 0, outcome: null, upstream: null };
  session.tunnels.add(tunnel);

  const accessLog = (outcome) => {
    if (tunnel.logged) return;
    tunnel.logged = true;
    session.tunnels.delete(tunnel);
    const up = tunnel.upstream;
    log(`stream conn=${session.n} id=${stream.id} authority=${tunnel.authority} status=${tunnel.status} ` +
      `outcome=${tunnel.outcome || outcome} to_upstream=${up ? up.bytesWritten : 0} ` +
      `to_client=${up ? up.bytesRead : 0} ms=${Date.now() - started}`);
  };

  const answered = () => {
    session.answered += 1;
    if (args.goawayAfter && session.answered === args.goawayAfter) {
      // graceful: GOAWAY(NO_ERROR, last processed stream), open streams finish, then the session closes
      log(`conn n=${session.n} goaway-sent open=${session.tunnels.size}`);
      session.close();
    }
    if (args.resetConnectionAfter && session.answered === args.resetConnectionAfter) {
      log(`conn n=${session.n} tcp-reset after=${session.answered} open=${session.tunnels.size}`);
      for (const t of session.tunnels) t.outcome = t.outcome || 'server-connection-reset';
      const socket = session.socket;
      // resetAndDestroy sends a TCP RST (no close_notify, no GOAWAY): the peer "died"
      if (socket._parent && typeof socket._parent.resetAndDestroy === 'function') socket._parent.resetAndDestroy();
      else if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.destroy();
    }
  };

  const answerError = (status, outcome) => {
    tunnel.status = status;
    tunnel.outcome = outcome;
    stream.respond({ ':status': status, 'content-length': '0' }, { endStream: true });
    answered();
  };

  stream.on('close', () => {
    if (stream.rstCode && stream.rstCode !== 0 && !tunnel.outcome) tunnel.outcome = `reset(${stream.rstCode})`;
    const up = tunnel.upstream;
    if (up && !up.destroyed) {
      // a stream that ended cleanly both ways leaves the upstream to finish its own FIN exchange;
      // one that was reset (by either side) tells the upstream with a TCP RST, not a FIN
      if ((stream.rstCode || 0) === 0 && !tunnel.outcome) up.end();
      else up.resetAndDestroy();
    }
    accessLog('completed');
  });
  stream.on('error', (err) => { if (!tunnel.outcome) tunnel.outcome = `stream-error(${err.code || err.message})`; });

  if (headers[':method'] !== HTTP2_METHOD_CONNECT) return answerError(400, `not-connect(${headers[':method']})`);
  const target = parseHostPort(headers[':authority'], false);
  if (!target) return answerError(400, 'bad-authority');

  const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
  tunnel.upstream = upstream;
  const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), CONNECT_TIMEOUT_MS);
  let connected = false;

  upstream.on('connect', () => {
    connected = true;
    clearTimeout(connectTimer);
    upstream.setNoDelay(true);
    if (stream.destroyed || stream.closed) return upstream.resetAndDestroy();
    tunnel.status = 200;
    stream.respond({
      ':status': 200,
      baggage: BAGGAGE,
      server: 'node-hbone-peer',
      'server-timing': `upstream-connect;dur=${Date.now() - started}`,
      'x-peer-stream-count': String(session.answered + 1),
    });
    answered();
    // pipe() ends the other side on 'end': FIN <-> END_STREAM, each direction on its own (half-close)
    upstream.pipe(stream);
    stream.pipe(upstream);
    upstream.setTimeout(args.idleTimeout * 1000, () => upstream.destroy(new Error('upstream idle')));
  });
  // A clean upstream close needs nothing more: the pipe ended our side, and once both sides have ended nghttp2
  // closes the stream after END_STREAM went out. (Calling stream.close() here sent RST_STREAM(NO_ERROR) while
  // END_STREAM or DATA still waited for flow-control window, truncating the tunnel.)
  upstream.on('error', (err) => {
    clearTimeout(connectTimer);
    if (!connected) {
      tunnel.upstream = null;
      if (!stream.destroyed && !stream.closed) answerError(503, `upstream-connect-failed(${err.code || err.message})`);
      return;
    }
    if (stream.destroyed || stream.closed) return;
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
      tunnel.outcome = 'upstream-reset';
      stream.close(NGHTTP2_CONNECT_ERROR); // RFC 9113 §8.5: a TCP RST becomes CONNECT_ERROR
    } else {
      tunnel.outcome = `upstream-error(${err.code || err.message})`;
      stream.close(NGHTTP2_CANCEL);
    }
  });
});

server.on('error', (err) => {
  log(`server error=${err.code || err.message}`);
  process.exit(1);
});

server.listen(args.port, args.host, () => {
  const address = server.address();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stdout.write(`listening on ${host}:${address.port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    // exit at once: the kernel resets what is left; a graceful drain is what --goaway-after is for
    log('server stopped');
    process.exit(0);
  });
}
