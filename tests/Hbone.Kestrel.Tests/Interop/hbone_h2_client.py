#!/usr/bin/python3
"""An independent HBONE client: one HTTP/2 CONNECT over mutual TLS, built on python3-h2.

It opens TLS 1.3 (ALPN h2) with a client certificate (an X.509-SVID), verifies the server's chain against a CA
bundle (no host name check: SPIFFE certificates carry URI SANs only), sends

    :method CONNECT
    :authority <--authority>
    <--header NAME:VALUE ...>     (forwarded, baggage, traceparent, ... sent exactly as given)

and, once the server answered 200, copies the input to DATA frames (END_STREAM at input EOF) and DATA frames
to stdout, until both sides ended. Outbound header validation and normalisation are off, so it can also send
what a conforming client never would (uppercase names, pseudo-headers in odd places).

stderr gets one line per event worth knowing: status=<code>, reset=<error code>, goaway=<error code>,
closed, error=<text>.

Exit codes:
    0  200 and a clean end of both directions
    2  the CONNECT was answered with a status other than 200
    3  the stream was reset (RST_STREAM)
    4  the connection ended first (GOAWAY, EOF or TLS failure after the handshake)
    5  TLS handshake or connect failed
    6  timeout
    1  usage error

Example (tunnel stdin to 10.0.0.5:8080 through an HBONE server on 127.0.0.1:15008):

    /usr/bin/python3 hbone_h2_client.py --server 127.0.0.1:15008 --cert client.pem --key client-key.pem \
        --ca ca.pem --authority 10.0.0.5:8080 --header 'forwarded:for="10.0.0.9:4242"' --stdin < request.bin
"""

import argparse
import os
import select
import socket
import ssl
import sys
import time

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
except ImportError:  # pragma: no cover - reported to the caller, who decides what a missing h2 means
    sys.stderr.write("error=python3-h2 is not installed (apt-get install -y python3-h2)\n")
    sys.exit(1)

EXIT_OK, EXIT_USAGE, EXIT_STATUS, EXIT_RESET, EXIT_CONNECTION, EXIT_TLS, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5, 6
CHUNK = 64 * 1024
WINDOW = 4 * 1024 * 1024


def log(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def parse_header(text):
    """NAME:VALUE; a pseudo-header keeps its leading colon (":foo:bar" is name ":foo", value "bar")."""
    start = 1 if text.startswith(":") else 0
    index = text.find(":", start)
    if index <= 0:
        raise argparse.ArgumentTypeError("expected NAME:VALUE, got %r" % text)
    return text[:index], text[index + 1:]


def parse_server(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return host.strip("[]"), int(port)


def build_arguments():
    parser = argparse.ArgumentParser(description="HBONE (HTTP/2 CONNECT over mTLS) client on python3-h2.")
    parser.add_argument("--server", required=True, type=parse_server, help="HBONE server HOST:PORT")
    parser.add_argument("--cert", required=True, help="client certificate chain (PEM)")
    parser.add_argument("--key", required=True, help="client private key (PEM)")
    parser.add_argument("--ca", required=True, help="trust bundle to verify the server (PEM)")
    parser.add_argument("--authority", help=":authority of the CONNECT (omit it to test the server's 400)")
    parser.add_argument("--method", default="CONNECT", help="the :method (default CONNECT)")
    parser.add_argument("--header", action="append", default=[], type=parse_header, metavar="NAME:VALUE",
                        help="extra request header, sent verbatim; repeatable")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--send-file", metavar="PATH", help="send this file's bytes, then END_STREAM")
    source.add_argument("--stdin", action="store_true", help="send stdin, END_STREAM at its EOF")
    parser.add_argument("--timeout", type=float, default=30.0, help="overall deadline in seconds (default 30)")
    parser.add_argument("--tls12", action="store_true", help="allow TLS 1.2 (default TLS 1.3 only)")
    return parser.parse_args()


def open_tls(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2 if args.tls12 else ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # SPIFFE SVIDs carry a URI SAN, no DNS name
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=args.ca)
    context.load_cert_chain(certfile=args.cert, keyfile=args.key)
    context.set_alpn_protocols(["h2"])
    host, port = args.server
    raw = socket.create_connection((host, port), timeout=args.timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tls = context.wrap_socket(raw, server_hostname=None)
    if tls.selected_alpn_protocol() != "h2":
        raise ssl.SSLError("ALPN h2 was not negotiated (got %r)" % tls.selected_alpn_protocol())
    return tls


class Tunnel:
    def __init__(self, args, tls):
        self.args = args
        self.tls = tls
        config = h2.config.H2Configuration(
            client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=config)
        self.stream_id = None
        self.status = None
        self.remote_ended = False
        self.local_ended = False
        self.pending = b""
        self.input_eof = False
        self.input_fd = None
        self.result = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.tls.sendall(data)

    def start(self):
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW,
                                   h2.settings.SettingCodes.ENABLE_PUSH: 0})
        self.conn.increment_flow_control_window(4 * WINDOW - 65535)
        headers = [(":method", self.args.method)]
        if self.args.authority is not None:
            headers.append((":authority", self.args.authority))
        headers.extend(self.args.header)
        self.stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(self.stream_id, headers, end_stream=False)
        self.flush()

    def on_events(self, events):
        for event in events:
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == self.stream_id:
                headers = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                           for k, v in event.headers}
                self.status = int(headers.get(":status", "0"))
                log("status=%d" % self.status)
                if self.status == 200:
                    self.open_input()
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == self.stream_id:
                if event.data:
                    sys.stdout.buffer.write(event.data)
                    sys.stdout.buffer.flush()
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == self.stream_id:
                self.remote_ended = True
                if self.status != 200:
                    self.result = EXIT_STATUS
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == self.stream_id:
                log("reset=%d" % int(event.error_code))
                self.result = EXIT_RESET
            elif isinstance(event, h2.events.ConnectionTerminated):
                log("goaway=%d" % int(event.error_code))
                if self.result is None:
                    self.result = EXIT_STATUS if self.status not in (None, 200) else EXIT_CONNECTION
        if self.result is None and self.status == 200 and self.remote_ended and self.local_ended:
            self.result = EXIT_OK

    def open_input(self):
        if self.args.stdin:
            self.input_fd = sys.stdin.buffer.fileno()
        elif self.args.send_file:
            self.input_fd = os.open(self.args.send_file, os.O_RDONLY)
        else:
            self.input_eof = True

    def pump_input(self, readable):
        if self.status != 200 or self.local_ended:
            return
        if not self.input_eof and self.input_fd is not None and len(self.pending) < CHUNK and readable:
            chunk = os.read(self.input_fd, CHUNK)
            if chunk:
                self.pending += chunk
            else:
                self.input_eof = True
        while self.pending:
            window = min(self.conn.local_flow_control_window(self.stream_id), self.conn.max_outbound_frame_size)
            if window <= 0:
                break
            self.conn.send_data(self.stream_id, self.pending[:window])
            self.pending = self.pending[window:]
        if self.input_eof and not self.pending:
            self.conn.end_stream(self.stream_id)
            self.local_ended = True
        self.flush()

    def wants_input(self):
        return (self.status == 200 and not self.local_ended and not self.input_eof
                and self.input_fd is not None and len(self.pending) < CHUNK)

    def run(self):
        deadline = time.monotonic() + self.args.timeout
        self.start()
        while self.result is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log("error=timeout")
                return EXIT_TIMEOUT
            if self.tls.pending() == 0:
                readers = [self.tls] + ([self.input_fd] if self.wants_input() else [])
                ready, _, _ = select.select(readers, [], [], min(remaining, 1.0))
            else:
                ready = [self.tls]
            if self.tls in ready:
                try:
                    data = self.tls.recv(CHUNK)
                except (ssl.SSLError, OSError) as error:
                    log("closed")
                    log("error=%s" % error)
                    return EXIT_CONNECTION
                if not data:
                    log("closed")
                    return EXIT_CONNECTION
                try:
                    self.on_events(self.conn.receive_data(data))
                except h2.exceptions.ProtocolError as error:
                    log("error=%s" % error)
                    return EXIT_CONNECTION
                self.flush()
            if self.result is None:
                self.pump_input(self.input_fd in ready or (self.input_fd is not None and not self.args.stdin))
                if self.result is None and self.status == 200 and self.remote_ended and self.local_ended:
                    self.result = EXIT_OK
        try:
            self.conn.close_connection()
            self.flush()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        return self.result


def main():
    args = build_arguments()
    try:
        tls = open_tls(args)
    except (ssl.SSLError, OSError) as error:
        log("error=%s" % error)
        return EXIT_TLS
    try:
        return Tunnel(args, tls).run()
    finally:
        tls.close()


if __name__ == "__main__":
    sys.exit(main())
