#!/usr/bin/python3
"""Many HBONE tunnels on ONE HTTP/2 connection (python3-h2), to load a peer server: each stream sends
--bytes of a per-stream pattern to an echo upstream, ends, and must get exactly the same bytes back.

Prints "streams=N ok=N bytes_each=B seconds=S"; exit 0 when every stream came back byte-exact, 1 otherwise.
"""

import argparse
import hashlib
import select
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

WINDOW = 4 * 1024 * 1024


def pattern(stream_id, size):
    seed = hashlib.sha256(str(stream_id).encode()).digest() * 2048  # 64 KiB block, differs per stream
    return (seed * (size // len(seed) + 1))[:size]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--authority", required=True)
    p.add_argument("--streams", type=int, default=200)
    p.add_argument("--bytes", type=int, default=2 * 1024 * 1024)
    p.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(a.ca)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["h2"])
    host, _, port = a.server.rpartition(":")
    sock = ctx.wrap_socket(socket.create_connection((host.strip("[]"), int(port)), timeout=a.timeout))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, validate_outbound_headers=False))
    conn.local_settings = h2.settings.Settings(client=True, initial_values={
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW, h2.settings.SettingCodes.ENABLE_PUSH: 0})
    conn.initiate_connection()
    conn.increment_flow_control_window(4 * WINDOW - 65535)
    pending, received, sent, status, ended = {}, {}, {}, {}, set()
    for _ in range(a.streams):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "CONNECT"), (":authority", a.authority)])
        pending[sid], received[sid], sent[sid] = pattern(sid, a.bytes), bytearray(), 0
    sock.setblocking(False)  # read while writing: a blocked sendall against a peer that also writes deadlocks
    outbuf = bytearray(conn.data_to_send())
    start, deadline, failed = time.monotonic(), time.monotonic() + a.timeout, set()
    while len(ended | failed) < a.streams and time.monotonic() < deadline:
        readable, writable, _ = select.select([sock], [sock] if outbuf else [], [], 0 if sock.pending() else 1.0)
        if writable or outbuf:
            try:
                outbuf = outbuf[sock.send(outbuf[:1 << 18]):]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        if sock.pending() or readable:
            try:
                data = sock.recv(1 << 20)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                data = None
            if data == b"":
                break
            for ev in (conn.receive_data(data) if data else []):
                if isinstance(ev, h2.events.ResponseReceived):
                    status[ev.stream_id] = dict(ev.headers).get(b":status")
                elif isinstance(ev, h2.events.DataReceived):
                    received[ev.stream_id] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    ended.add(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    failed.add(ev.stream_id)
                    sys.stderr.write("reset stream=%d code=%d\n" % (ev.stream_id, ev.error_code))
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    sys.stderr.write("goaway=%d\n" % ev.error_code)
                    deadline = 0
        for sid, body in pending.items():  # send what the windows allow, round robin
            if len(outbuf) > (1 << 20):
                break  # bound memory: let the socket drain first
            if status.get(sid) != b"200" or sent[sid] > len(body) or sid in failed:
                continue
            while sent[sid] < len(body):
                n = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size, len(body) - sent[sid])
                if n <= 0:
                    break
                conn.send_data(sid, body[sent[sid]:sent[sid] + n])
                sent[sid] += n
            if sent[sid] == len(body):
                conn.end_stream(sid)
                sent[sid] += 1  # marks END_STREAM sent
        outbuf += conn.data_to_send()
    ok = sum(1 for sid in pending if sid in ended and bytes(received[sid]) == pending[sid])
    print("streams=%d ok=%d bytes_each=%d seconds=%.1f" % (a.streams, ok, a.bytes, time.monotonic() - start))
    sock.close()
    return 0 if ok == a.streams else 1


if __name__ == "__main__":
    sys.exit(main())
