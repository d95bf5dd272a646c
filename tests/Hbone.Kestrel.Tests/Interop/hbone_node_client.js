#!/usr/bin/node
'use strict';
// An independent HBONE client on Node's http2 module (nghttp2 inside Node): HTTP/2 CONNECT streams over
// mutual TLS with a client SVID. The server's chain is verified against --ca; its name is not checked
// (SPIFFE SVIDs carry a URI SAN only), so checkServerIdentity accepts any name.
//
// The client advertises SETTINGS_INITIAL_WINDOW_SIZE = --window and never raises its connection window
// beyond the RFC default (65,535): Node only returns what it consumed, so every byte the server sends
// crosses a tiny window.
//
// Modes:
//   file     one CONNECT to --authority; once 200 arrives, --send-file is sent (END_STREAM at its end) while
//            the answer is written to --recv-file, both at once.
//   streams  --streams CONNECTs to --authority at once on one session, each sending --size random bytes
//            (END_STREAM after them) and reading its stream to its END_STREAM.
//
// stdout: one JSON object {alpn, peerUri, localWindow, streams: [{status, sent, received, sentSha256, receivedSha256}]}.
// Exit codes: 0 every stream 200 and ended cleanly both ways; 2 a status other than 200; 3 a stream reset;
// 4 the session failed (GOAWAY, TLS error, EOF); 6 --timeout passed; 1 usage error.
//
// Example: node hbone_node_client.js --server 127.0.0.1:15008 --cert client.pem --key client-key.pem \
//     --ca ca.pem --authority 10.0.0.5:8080 --mode streams --streams 100 --size 262144 --window 1024

const crypto = require('crypto');
const fs = require('fs');
const http2 = require('http2');

const EXIT_OK = 0, EXIT_USAGE = 1, EXIT_STATUS = 2, EXIT_RESET = 3, EXIT_SESSION = 4, EXIT_TIMEOUT = 6;

function parseArguments(argv) {
    const args = { mode: 'file', streams: 1, size: 0, window: 65535, timeout: 60 };
    for (let i = 0; i < argv.length; i += 2) {
        const name = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
        if (i + 1 >= argv.length) {
            usage(`missing value for ${argv[i]}`);
        }
        args[name] = ['streams', 'size', 'window', 'timeout'].includes(name) ? Number(argv[i + 1]) : argv[i + 1];
    }
    for (const required of ['server', 'cert', 'key', 'ca', 'authority']) {
        if (!args[required]) {
            usage(`--${required} is required`);
        }
    }
    if (args.mode === 'file' && (!args.sendFile || !args.recvFile)) {
        usage('--mode file needs --send-file and --recv-file');
    }
    return args;
}

function usage(message) {
    process.stderr.write(`error=${message}\n`);
    process.exit(EXIT_USAGE);
}

const args = parseArguments(process.argv.slice(2));
const results = [];
let exitCode = EXIT_OK;
let peerUri = null;
let alpn = null;
let localWindow = null;

function finish(code) {
    localWindow = session.localSettings.initialWindowSize;  // acknowledged by the server by now
    process.stdout.write(JSON.stringify({ alpn, peerUri, localWindow, streams: results }) + '\n', () => process.exit(code));
}

const timer = setTimeout(() => {
    process.stderr.write('error=timeout\n');
    finish(EXIT_TIMEOUT);
}, args.timeout * 1000);

const session = http2.connect(`https://${args.server}`, {
    key: fs.readFileSync(args.key),
    cert: fs.readFileSync(args.cert),
    ca: fs.readFileSync(args.ca),
    minVersion: 'TLSv1.3',
    checkServerIdentity: () => undefined,
    settings: { initialWindowSize: args.window, enablePush: false },
    maxSessionMemory: 256,
});

session.on('error', error => {
    process.stderr.write(`error=${error.message}\n`);
    finish(EXIT_SESSION);
});
session.on('goaway', code => {
    process.stderr.write(`goaway=${code}\n`);
});
session.on('connect', () => {
    alpn = session.alpnProtocol;
    const uri = /URI:([^,]+)/.exec(session.socket.getPeerCertificate().subjectaltname || '');
    peerUri = uri ? uri[1] : null;
});

// One CONNECT stream: resolves with its result once both directions ended (or it failed).
function tunnel(index, source, sink) {
    return new Promise(resolve => {
        const result = { status: 0, sent: 0, received: 0, sentSha256: null, receivedSha256: null };
        results[index] = result;
        const sentHash = crypto.createHash('sha256');
        const receivedHash = crypto.createHash('sha256');
        const request = session.request({ ':method': 'CONNECT', ':authority': args.authority });
        let sinkDone = sink === null;
        let ended = false;
        const done = code => {
            if (code !== EXIT_OK && exitCode === EXIT_OK) {
                exitCode = code;
            }
            resolve();
        };
        const maybeDone = () => {
            if (ended && sinkDone && result.sentSha256 !== null) {
                result.receivedSha256 = receivedHash.digest('hex');
                done(result.status === 200 ? EXIT_OK : EXIT_STATUS);
            }
        };
        request.on('response', headers => {
            result.status = headers[':status'];
            process.stderr.write(`stream=${request.id} status=${result.status}\n`);
            if (result.status !== 200) {
                result.sentSha256 = sentHash.digest('hex');
                request.end();
                return;
            }
            source.on('data', chunk => {
                result.sent += chunk.length;
                sentHash.update(chunk);
            });
            source.on('end', () => {
                result.sentSha256 = sentHash.digest('hex');
                maybeDone();
            });
            source.pipe(request);
        });
        request.on('data', chunk => {
            result.received += chunk.length;
            receivedHash.update(chunk);
            if (sink !== null && !sink.write(chunk)) {
                request.pause();
                sink.once('drain', () => request.resume());
            }
        });
        request.on('end', () => {
            ended = true;
            if (sink !== null) {
                sink.end(() => {
                    sinkDone = true;
                    maybeDone();
                });
            } else {
                maybeDone();
            }
        });
        request.on('close', () => {
            if (request.rstCode) {
                process.stderr.write(`stream=${request.id} reset=${request.rstCode}\n`);
                done(EXIT_RESET);
            } else if (!ended) {
                done(EXIT_SESSION);
            }
        });
        request.on('error', error => process.stderr.write(`stream error=${error.message}\n`));
    });
}

function randomSource(size) {
    const { Readable } = require('stream');
    let left = size;
    return new Readable({
        read() {
            const length = Math.min(left, 64 * 1024);
            left -= length;
            this.push(length > 0 ? crypto.randomBytes(length) : null);
        },
    });
}

async function main() {
    const tunnels = [];
    if (args.mode === 'file') {
        tunnels.push(tunnel(0, fs.createReadStream(args.sendFile), fs.createWriteStream(args.recvFile)));
    } else if (args.mode === 'streams') {
        for (let i = 0; i < args.streams; i++) {
            tunnels.push(tunnel(i, randomSource(args.size), null));
        }
    } else {
        usage(`unknown --mode ${args.mode}`);
    }
    await Promise.all(tunnels);
    clearTimeout(timer);
    session.close(() => finish(exitCode));
}

main();
