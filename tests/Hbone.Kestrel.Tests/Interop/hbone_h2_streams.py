#!/usr/bin/python3
"""Many HBONE tunnels at once on one HTTP/2 connection, through tiny flow-control windows, on python3-h2.

Opens TLS 1.3 (ALPN h2) with a client certificate, verifies the server's chain against --ca (no host name
check: SPIFFE SVIDs carry a URI SAN only), advertises SETTINGS_INITIAL_WINDOW_SIZE = --window and leaves the
connection window at the RFC default (65,535). Then --streams CONNECTs to --authority are opened at once;
each sends --size random bytes (END_STREAM after them) once its 200 arrived, and reads its stream to its
END_STREAM. Received data is acknowledged as it is consumed, so the server never has more than --window
bytes in flight per stream and 65,535 per connection.

stdout: one JSON object {"streams": [{"id", "status", "sent", "received", "max_data_frame", "sent_sha256",
"received_sha256"}]}; max_data_frame is the largest flow-controlled length of a DATA frame received.
stderr: error=..., reset=..., goaway=... lines.
Exit codes: 0 every stream 200 and ended both ways; 2 a status other than 200; 3 a stream reset;
4 the connection ended first; 5 TLS or TCP connect failed; 6 --timeout passed.

Example: /usr/bin/python3 hbone_h2_streams.py --server 127.0.0.1:15008 --cert client.pem --key client-key.pem \
    --ca ca.pem --authority 10.0.0.5:8080 --streams 50 --size 1048576 --window 4096
"""

import argparse
import hashlib
import json
import os
import select
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

EXIT_OK, EXIT_STATUS, EXIT_RESET, EXIT_CONNECTION, EXIT_TLS, EXIT_TIMEOUT = 0, 2, 3, 4, 5, 6


def log(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Stream:
    def __init__(self, stream_id, size):
        self.id = stream_id
        self.left = size
        self.pending = b""
        self.status = None
        self.sent = 0
        self.received = 0
        self.max_data_frame = 0
        self.sent_hash = hashlib.sha256()
        self.received_hash = hashlib.sha256()
        self.local_ended = False
        self.remote_ended = False
        self.reset = None

    def done(self):
        return self.reset is not None or (self.remote_ended and (self.local_ended or self.status != 200))

    def report(self):
        return {"id": self.id, "status": self.status, "sent": self.sent, "received": self.received,
                "max_data_frame": self.max_data_frame,
                "sent_sha256": self.sent_hash.hexdigest(), "received_sha256": self.received_hash.hexdigest()}


def open_tls(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=args.ca)
    context.load_cert_chain(certfile=args.cert, keyfile=args.key)
    context.set_alpn_protocols(["h2"])
    host, _, port = args.server.rpartition(":")
    raw = socket.create_connection((host, int(port)), timeout=args.timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tls = context.wrap_socket(raw, server_hostname=None)
    if tls.selected_alpn_protocol() != "h2":
        raise ssl.SSLError("ALPN h2 was not negotiated")
    tls.setblocking(False)
    return tls


def run(args, tls):
    config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    conn.local_settings = h2.settings.Settings(client=True, initial_values={
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: args.window,
        h2.settings.SettingCodes.ENABLE_PUSH: 0,
    })
    conn.initiate_connection()
    streams = {}
    for _ in range(args.streams):
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, [(":method", "CONNECT"), (":authority", args.authority)])
        streams[stream_id] = Stream(stream_id, args.size)
    outbound = bytearray(conn.data_to_send())
    deadline = time.monotonic() + args.timeout
    goaway = False

    while not all(s.done() for s in streams.values()):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            log("error=timeout")
            return EXIT_TIMEOUT, streams
        if tls.pending() == 0:
            readable, writable, _ = select.select([tls], [tls] if outbound else [], [], min(remaining, 1.0))
        else:
            readable, writable = [tls], []
        if readable:
            try:
                data = tls.recv(65536)
            except ssl.SSLWantReadError:
                data = None
            except (ssl.SSLError, OSError) as error:
                log("error=%s" % error)
                return EXIT_CONNECTION, streams
            if data == b"":
                log("error=connection closed")
                return EXIT_CONNECTION, streams
            if data:
                try:
                    events = conn.receive_data(data)
                except h2.exceptions.ProtocolError as error:
                    log("error=%s" % error)
                    return EXIT_CONNECTION, streams
                for event in events:
                    stream = streams.get(getattr(event, "stream_id", 0))
                    if isinstance(event, h2.events.ResponseReceived) and stream:
                        stream.status = int(dict(event.headers)[b":status"])
                        if stream.status != 200:
                            log("stream=%d status=%d" % (stream.id, stream.status))
                    elif isinstance(event, h2.events.DataReceived) and stream:
                        stream.received += len(event.data)
                        stream.max_data_frame = max(stream.max_data_frame, event.flow_controlled_length)
                        stream.received_hash.update(event.data)
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded) and stream:
                        stream.remote_ended = True
                    elif isinstance(event, h2.events.StreamReset) and stream:
                        stream.reset = int(event.error_code)
                        log("stream=%d reset=%d" % (stream.id, stream.reset))
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        log("goaway=%d" % int(event.error_code))
                        goaway = True
        if goaway:
            return EXIT_CONNECTION, streams
        for stream in streams.values():
            if stream.status != 200 or stream.local_ended or stream.reset is not None:
                continue
            while True:
                if not stream.pending and stream.left:
                    stream.pending = os.urandom(min(stream.left, 16384))
                    stream.left -= len(stream.pending)
                    stream.sent_hash.update(stream.pending)
                if not stream.pending:
                    conn.end_stream(stream.id)
                    stream.local_ended = True
                    break
                window = min(conn.local_flow_control_window(stream.id), conn.max_outbound_frame_size)
                if window <= 0 or len(outbound) > 1 << 20:
                    break
                chunk = stream.pending[:window]
                conn.send_data(stream.id, chunk)
                stream.pending = stream.pending[window:]
                stream.sent += len(chunk)
        outbound += conn.data_to_send()
        if outbound:
            try:
                written = tls.send(outbound)
                del outbound[:written]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                pass
            except (ssl.SSLError, OSError) as error:
                log("error=%s" % error)
                return EXIT_CONNECTION, streams

    if any(s.reset is not None for s in streams.values()):
        return EXIT_RESET, streams
    if any(s.status != 200 for s in streams.values()):
        return EXIT_STATUS, streams
    try:
        conn.close_connection()
        tls.setblocking(True)
        tls.sendall(bytes(outbound) + conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError):
        pass
    return EXIT_OK, streams


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="HBONE server HOST:PORT")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--authority", required=True)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--size", type=int, default=0, help="bytes each stream sends")
    parser.add_argument("--window", type=int, default=65535, help="SETTINGS_INITIAL_WINDOW_SIZE to advertise")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    try:
        tls = open_tls(args)
    except (ssl.SSLError, OSError) as error:
        log("error=%s" % error)
        return EXIT_TLS
    try:
        code, streams = run(args, tls)
    finally:
        tls.close()
    sys.stdout.write(json.dumps({"streams": [s.report() for s in streams.values()]}) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
