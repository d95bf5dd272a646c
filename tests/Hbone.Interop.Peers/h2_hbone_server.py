#!/usr/bin/python3
"""An independent HBONE server on python3-h2 (4.x): HTTP/2 CONNECT over mutual TLS 1.3, ALPN h2.

It is a peer we did not write, for testing our own HBONE client against. Per CONNECT stream it checks, in
this order:

    malformed request (uppercase name, unknown/duplicate/late pseudo-header, connection header) -> RST_STREAM PROTOCOL_ERROR
    :method is not CONNECT                                            -> 400
    :scheme, :path or :protocol present on a CONNECT                  -> RST_STREAM PROTOCOL_ERROR
    :authority missing or not HOST:PORT                               -> 400
    more than --max-concurrent-streams streams open                   -> RST_STREAM REFUSED_STREAM
    upstream TCP connect fails (10 s timeout)                         -> 503
    otherwise                                                         -> 200 (only after the connect), then copy

Copying respects flow control both ways: client DATA is acknowledged (WINDOW_UPDATE) only once the upstream
socket accepted it; upstream bytes are sent only within the client's windows. Client END_STREAM -> upstream
FIN; upstream FIN -> END_STREAM; upstream RST -> RST_STREAM CONNECT_ERROR (0xa); client RST_STREAM ->
upstream closed with a TCP RST (SO_LINGER 0).

Fault modes (FT-06, FT-07, FZ-01): --goaway-after, --reset-connection-after, --misbehave (see --help and
README.md). The 200 carries baggage/server-timing headers that h2's HPACK encoder Huffman-codes and indexes,
so the client's decoder meets dynamic-table references from the second stream on.

stdout: "listening on HOST:PORT" once bound (flushed). stderr: one "stream ..." access-log line per stream,
plus "conn ..." lines for connection events. Runs until SIGTERM/SIGINT, then exits 0.
"""

import argparse
import asyncio
import functools
import random
import signal
import socket
import ssl
import struct
import sys
import time

try:
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.exceptions
    import h2.settings
    from h2.connection import ConnectionState
    from hpack import NeverIndexedHeaderTuple
except ImportError:  # pragma: no cover - the caller decides what a missing h2 means
    sys.stderr.write("error=python3-h2 is not installed (apt-get install -y python3-h2)\n")
    sys.exit(1)

E = h2.errors.ErrorCodes
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS = 0x1, 0x4
CONNECT_TIMEOUT = 10.0
READ_CHUNK = 256 * 1024
MISBEHAVE_MODES = ("bad-frame-size", "window-overflow", "window-overflow-stream", "unknown-stream-data",
                   "bad-hpack", "settings-bad-length", "ping-bad-length", "continuation-flood", "random", "silent")
CONNECTION_HEADERS = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
KNOWN_PSEUDO = {":method", ":authority", ":scheme", ":path", ":protocol"}
BAGGAGE = ("k8s.cluster.name=peer-cluster,k8s.namespace.name=peer,k8s.deployment.name=h2-hbone-server,"
           "service.name=h2-hbone-server,service.version=v1")


def log(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def frame(kind, flags, stream_id, payload):
    """One raw HTTP/2 frame; used where h2 refuses to produce what a fault mode needs."""
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def error_name(code):
    try:
        return E(code).name
    except ValueError:
        return "0x%x" % code


def parse_hostport(text):
    """HOST:PORT or [v6]:PORT -> (host, port); None when it does not parse."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("["):
        if not host.endswith("]"):
            return None
        host = host[1:-1]
    elif ":" in host:
        return None  # an unbracketed IPv6 literal is ambiguous
    return host, int(port)


def listen_arg(text):
    parsed = parse_hostport(text[:-2] + ":1" if text.endswith(":0") else text)  # port 0 is fine for binding
    if parsed is None:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return parsed[0], 0 if text.endswith(":0") else parsed[1]


def set_linger_zero(sock):
    """SO_LINGER 0 makes close() send a TCP RST instead of a FIN."""
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass


class ServerConnection(h2.connection.H2Connection):
    @property
    def open_inbound_streams(self):
        # h2 turns an excess stream into a connection error; we refuse it as a stream error ourselves
        return 0


class Stream:
    def __init__(self, stream_id):
        self.id = stream_id
        self.authority = "-"
        self.status = 0
        self.outcome = None
        self.inbox = asyncio.Queue()
        self.window = asyncio.Event()
        self.up_reader = None
        self.up_writer = None
        self.task = None
        self.to_upstream = 0
        self.to_client = 0
        self.started = time.monotonic()
        self.logged = False


class Connection:
    counter = 0

    def __init__(self, server, reader, writer):
        Connection.counter += 1
        self.n = Connection.counter
        self.server = server
        self.args = server.args
        self.reader = reader
        self.writer = writer
        config = h2.config.H2Configuration(client_side=False, header_encoding=None, validate_inbound_headers=False)
        self.conn = ServerConnection(config=config)
        if self.args.no_huffman:
            self.conn.encoder.encode = functools.partial(self.conn.encoder.encode, huffman=False)
        self.streams = {}
        self.answered = 0
        self.highest_stream = 0
        self.goaway_last = None  # set once our graceful GOAWAY went out
        self.closed = False
        self.silent = False
        self.hold_output = False  # a CONTINUATION flood owns the socket
        self.tasks = set()

    # ---- output -------------------------------------------------------------------------------------

    def flush(self):
        data = self.conn.data_to_send()
        if data and not self.silent and not self.hold_output and not self.writer.is_closing():
            self.writer.write(data)

    def write_raw(self, data):
        self.flush()
        if not self.writer.is_closing():
            self.writer.write(data)

    def spawn(self, coroutine):
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # ---- connection loop ----------------------------------------------------------------------------

    async def run(self):
        peer = self.writer.get_extra_info("peername")
        tls = self.writer.get_extra_info("ssl_object")
        raw = self.writer.get_extra_info("socket")
        if raw is not None:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        alpn = tls.selected_alpn_protocol() if tls else None
        identity = "-"
        for kind, value in ((tls.getpeercert() or {}).get("subjectAltName", ()) if tls else ()):
            if kind == "URI":
                identity = value
        log("conn n=%d peer=%s:%s open tls=%s alpn=%s identity=%s"
            % (self.n, peer[0], peer[1], tls.version() if tls else "-", alpn, identity))
        reason = "eof"
        try:
            if alpn != "h2":
                reason = "no-alpn-h2"
                return
            settings = {
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.args.max_concurrent_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.args.initial_window,
                h2.settings.SettingCodes.MAX_FRAME_SIZE: self.args.max_frame_size,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 64 * 1024,
            }
            self.conn.local_settings = h2.settings.Settings(client=False, initial_values=settings)
            self.conn.initiate_connection()
            if self.args.connection_window > 65535:
                self.conn.increment_flow_control_window(self.args.connection_window - 65535)
            self.flush()
            while not self.closed:
                try:
                    data = await asyncio.wait_for(self.reader.read(65536), self.args.idle_timeout)
                except asyncio.TimeoutError:
                    reason = "idle-timeout"
                    break
                if not data:
                    break
                if self.silent:
                    continue  # FT-07: a peer that is gone answers nothing, not even PING
                try:
                    events = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError as error:
                    reason = "protocol-error(%s)" % error
                    self.flush()  # h2 queued a GOAWAY for this
                    break
                for event in events:
                    self.on_event(event)
                self.flush()
        except (ConnectionError, ssl.SSLError, OSError) as error:
            reason = "error(%s)" % (error.__class__.__name__)
        finally:
            if self.closed and reason == "eof":
                reason = "closed-by-server"
            await self.shutdown(reason)

    async def shutdown(self, reason):
        self.closed = True
        for stream in list(self.streams.values()):
            self.finish(stream, stream.outcome or "connection-closed", upstream_rst=stream.outcome is None)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)
        if not self.writer.is_closing():
            self.flush()
            self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 5)
        except (asyncio.TimeoutError, ConnectionError, ssl.SSLError, OSError):
            pass
        log("conn n=%d closed reason=%s streams=%d" % (self.n, reason, self.answered))

    def on_event(self, event):
        if isinstance(event, h2.events.RequestReceived):
            self.on_request(event.stream_id, event.headers, event.stream_ended)
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None and stream.status == 200:
                stream.inbox.put_nowait((event.data, event.flow_controlled_length))
            else:
                # data for a refused or not yet answered stream still counts against the connection window
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if stream is not None and event.data:
                    stream.inbox.put_nowait((event.data, 0))
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.inbox.put_nowait(None)
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                self.finish(stream, "client-reset(%s)" % error_name(event.error_code), upstream_rst=True)
        elif isinstance(event, h2.events.WindowUpdated):
            targets = self.streams.values() if event.stream_id == 0 else [self.streams.get(event.stream_id)]
            for stream in targets:
                if stream is not None:
                    stream.window.set()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            for stream in self.streams.values():
                stream.window.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            log("conn n=%d client-goaway error=%s last_stream_id=%s"
                % (self.n, error_name(event.error_code), event.last_stream_id))
            if event.error_code == E.NO_ERROR and self.streams:
                # h2 stops all sending on a received GOAWAY; a graceful one must let open streams finish
                self.conn.state_machine.state = ConnectionState.SERVER_OPEN
                self.goaway_last = self.goaway_last if self.goaway_last is not None else self.highest_stream
            else:
                self.closed = True

    # ---- per stream ---------------------------------------------------------------------------------

    def on_request(self, stream_id, headers, ended):
        self.highest_stream = max(self.highest_stream, stream_id)
        stream = Stream(stream_id)
        names = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
        pseudo = {}
        regular_seen = False
        malformed = None
        for name, value in names:
            if name != name.lower():
                malformed = "uppercase-name"
            elif name.startswith(":"):
                if regular_seen or name not in KNOWN_PSEUDO or name in pseudo:
                    malformed = "bad-pseudo-header(%s)" % name
                pseudo[name] = value
            else:
                regular_seen = True
                if name in CONNECTION_HEADERS or (name == "te" and value != "trailers"):
                    malformed = "connection-header(%s)" % name
        stream.authority = pseudo.get(":authority", "-")
        if self.goaway_last is not None and stream_id > self.goaway_last:
            return self.refuse(stream, E.REFUSED_STREAM, "refused-after-goaway")
        if malformed:
            return self.refuse(stream, E.PROTOCOL_ERROR, "malformed(%s)" % malformed)
        if pseudo.get(":method") != "CONNECT":
            return self.answer_error(stream, 400, "not-connect(%s)" % pseudo.get(":method"))
        if ":scheme" in pseudo or ":path" in pseudo or ":protocol" in pseudo:
            return self.refuse(stream, E.PROTOCOL_ERROR, "connect-with-scheme-or-path")
        target = parse_hostport(pseudo[":authority"]) if ":authority" in pseudo else None
        if target is None:
            return self.answer_error(stream, 400, "bad-authority")
        if len(self.streams) >= self.args.max_concurrent_streams:
            return self.refuse(stream, E.REFUSED_STREAM, "too-many-streams")
        self.streams[stream_id] = stream
        if ended:
            stream.inbox.put_nowait(None)
        stream.task = self.spawn(self.serve(stream, target))

    def refuse(self, stream, code, outcome):
        self.conn.reset_stream(stream.id, code)
        stream.status = 0
        self.access_log(stream, outcome)

    def answer_error(self, stream, status, outcome):
        stream.status = status
        self.conn.send_headers(stream.id, [(":status", str(status)), ("content-length", "0")], end_stream=True)
        self.flush()
        self.access_log(stream, outcome)
        self.after_answer(stream)

    def response_headers(self, connect_ms):
        headers = [(":status", "200"), ("baggage", BAGGAGE), ("server", "h2-hbone-peer"),
                   ("server-timing", "upstream-connect;dur=%.3f" % connect_ms),
                   ("x-peer-stream-count", str(self.answered + 1))]
        if self.args.no_dynamic_table:
            headers = [NeverIndexedHeaderTuple(n, v) if not n.startswith(":") else (n, v) for n, v in headers]
        return headers

    async def serve(self, stream, target):
        begun = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(target[0], target[1]), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as error:
            self.streams.pop(stream.id, None)
            if not self.closed and stream.outcome is None:
                self.answer_error(stream, 503, "upstream-connect-failed(%s)" % error.__class__.__name__)
            return
        stream.up_reader, stream.up_writer = reader, writer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if stream.outcome is not None or self.closed:  # reset by the client while we were connecting
            set_linger_zero(sock)
            writer.transport.abort()
            return
        stream.status = 200
        self.conn.send_headers(stream.id, self.response_headers((time.monotonic() - begun) * 1000))
        self.flush()
        # data that arrived before the 200 was acknowledged already and sits in the inbox with credit 0
        self.after_answer(stream)
        pumps = [asyncio.ensure_future(self.client_to_upstream(stream)),
                 asyncio.ensure_future(self.upstream_to_client(stream))]
        try:
            done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:
                task.cancel()
            failure = next((t.exception() for t in done if not t.cancelled() and t.exception() is not None), None)
            if failure is None:
                self.finish(stream, "completed")
            elif isinstance(failure, (ConnectionResetError, BrokenPipeError)):
                self.reset(stream, E.CONNECT_ERROR, "upstream-reset")
            elif isinstance(failure, TunnelError):
                self.reset(stream, failure.code, failure.outcome)
            else:
                self.reset(stream, E.INTERNAL_ERROR, "error(%r)" % failure)
        except asyncio.CancelledError:
            for task in pumps:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved, so asyncio does not report it as lost
                task.cancel()
            raise

    async def client_to_upstream(self, stream):
        while True:
            item = await stream.inbox.get()
            if item is None:
                if stream.up_writer.can_write_eof() and not stream.up_writer.is_closing():
                    stream.up_writer.write_eof()
                return
            data, credit = item
            stream.up_writer.write(data)
            stream.to_upstream += len(data)
            await stream.up_writer.drain()
            if credit and not self.closed:
                try:
                    # the client's window opens only once the upstream took the bytes: end-to-end backpressure
                    self.conn.acknowledge_received_data(credit, stream.id)
                except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                    pass
                self.flush()

    async def upstream_to_client(self, stream):
        try:
            await self._upstream_to_client(stream)
        except h2.exceptions.StreamClosedError:
            raise TunnelError(E.CANCEL, "stream-closed")  # the client reset it while we were sending

    async def _upstream_to_client(self, stream):
        while True:
            window = await self.wait_window(stream)
            try:
                data = await asyncio.wait_for(stream.up_reader.read(min(window, READ_CHUNK)), self.args.idle_timeout)
            except asyncio.TimeoutError:
                raise TunnelError(E.CANCEL, "upstream-idle")
            if self.closed:
                return
            if not data:
                self.conn.end_stream(stream.id)
                self.flush()
                return
            while data:
                window = await self.wait_window(stream)
                size = min(window, self.conn.max_outbound_frame_size, len(data))
                self.conn.send_data(stream.id, data[:size])
                data = data[size:]
                stream.to_client += size
                self.flush()
            try:
                await self.writer.drain()
            except (ConnectionError, OSError):
                raise TunnelError(E.CANCEL, "client-connection-lost")  # not the upstream's fault

    async def wait_window(self, stream):
        """Bounded wait until the client lets us send on this stream; returns the usable window."""
        while True:
            if self.closed:
                raise TunnelError(E.CANCEL, "connection-closed")
            window = self.conn.local_flow_control_window(stream.id)
            if window > 0:
                return window
            stream.window.clear()
            try:
                await asyncio.wait_for(stream.window.wait(), self.args.stall_timeout)
            except asyncio.TimeoutError:
                raise TunnelError(E.CANCEL, "stalled-no-window-update")

    def reset(self, stream, code, outcome):
        if not self.closed:
            try:
                self.conn.reset_stream(stream.id, code)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                pass
            self.flush()
        self.finish(stream, outcome, upstream_rst=True)

    def finish(self, stream, outcome, upstream_rst=False):
        """Ends a stream once: closes its upstream (with RST when the tunnel failed) and writes its log line."""
        if stream.outcome is None:
            stream.outcome = outcome
        self.streams.pop(stream.id, None)
        if stream.up_writer is not None:
            if upstream_rst:
                set_linger_zero(stream.up_writer.get_extra_info("socket"))
                stream.up_writer.transport.abort()
            else:
                stream.up_writer.close()
        if stream.task is not None and stream.task is not asyncio.current_task() and not stream.task.done():
            stream.task.cancel()
        self.access_log(stream, stream.outcome)
        if self.goaway_last is not None and not self.streams and not self.closed:
            self.close_after_drain()

    def access_log(self, stream, outcome):
        if stream.logged:
            return
        stream.logged = True
        log("stream conn=%d id=%d authority=%s status=%d outcome=%s to_upstream=%d to_client=%d ms=%d"
            % (self.n, stream.id, stream.authority, stream.status, outcome, stream.to_upstream, stream.to_client,
               (time.monotonic() - stream.started) * 1000))

    # ---- fault modes --------------------------------------------------------------------------------

    def after_answer(self, stream):
        self.answered += 1
        args = self.args
        if args.goaway_after and self.answered == args.goaway_after and self.goaway_last is None:
            self.goaway_last = self.highest_stream
            # raw GOAWAY: h2's close_connection() would forbid sending on the streams that must still finish
            self.write_raw(frame(GOAWAY, 0, 0, struct.pack(">II", self.goaway_last, E.NO_ERROR)))
            log("conn n=%d goaway-sent error=NO_ERROR last_stream_id=%d open=%d"
                % (self.n, self.goaway_last, len(self.streams)))
            if not self.streams:
                self.close_after_drain()
        if args.reset_connection_after and self.answered == args.reset_connection_after:
            self.spawn(self.reset_connection())
        if args.misbehave and self.answered == 1 and stream.status == 200:
            self.spawn(self.misbehave(stream))

    def close_after_drain(self):
        log("conn n=%d drained" % self.n)
        self.conn.close_connection(last_stream_id=self.goaway_last)
        self.flush()
        self.closed = True
        self.writer.close()

    async def reset_connection(self):
        if self.args.reset_delay:
            await asyncio.sleep(self.args.reset_delay)
        log("conn n=%d tcp-reset after=%d open=%d" % (self.n, self.answered, len(self.streams)))
        set_linger_zero(self.writer.get_extra_info("socket"))
        for stream in list(self.streams.values()):
            self.finish(stream, "server-connection-reset", upstream_rst=True)
        self.closed = True
        self.writer.transport.abort()  # no close_notify, no GOAWAY: the peer "died"

    async def misbehave(self, stream):
        mode = self.args.misbehave
        sid = stream.id
        max_frame = self.conn.remote_settings.max_frame_size
        log("conn n=%d misbehave=%s stream=%d client_max_frame=%d" % (self.n, mode, sid, max_frame))
        if mode == "bad-frame-size":
            self.write_raw(frame(DATA, 0, sid, b"\0" * (max_frame + 1)))
        elif mode == "window-overflow":
            self.write_raw(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF)))
        elif mode == "window-overflow-stream":
            self.write_raw(frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", 0x7FFFFFFF)))
        elif mode == "unknown-stream-data":
            # stream 2 is server-initiated and idle: DATA on it is a connection PROTOCOL_ERROR
            self.write_raw(frame(DATA, 0, 2, b"hello"))
        elif mode == "bad-hpack":
            # indexed header field, index 1126: far past the static table and our few dynamic entries
            self.write_raw(frame(HEADERS, END_STREAM | END_HEADERS, sid, b"\xff\xe7\x07"))
        elif mode == "settings-bad-length":
            self.write_raw(frame(SETTINGS, 0, 0, b"\0\x03\0\0\0"))
        elif mode == "ping-bad-length":
            self.write_raw(frame(PING, 0, 0, b"\0" * 7))
        elif mode == "continuation-flood":
            await self.continuation_flood(sid, max_frame)
        elif mode == "random":
            self.random_frames(sid, max_frame)
        elif mode == "silent":
            self.flush()
            self.silent = True
            for open_stream in list(self.streams.values()):
                if open_stream.task is not None:
                    open_stream.task.cancel()

    async def continuation_flood(self, sid, max_frame):
        size = min(max_frame, 16384)
        value = b"a" * 1000
        literal = b"\x00\x07x-flood" + bytes([0x7F]) + self._int7(len(value) - 127) + value  # literal, new name
        fragment = (literal * (size // len(literal) + 1))[:size]
        self.write_raw(frame(HEADERS, END_STREAM, sid, fragment))
        self.hold_output = True  # nothing may interleave with an open header block
        sent, deadline = 1, time.monotonic() + self.args.flood_seconds
        try:
            while not self.closed and not self.writer.is_closing() and time.monotonic() < deadline:
                self.writer.write(frame(CONTINUATION, 0, sid, fragment))
                sent += 1
                await asyncio.wait_for(self.writer.drain(), max(0.1, deadline - time.monotonic()))
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        log("conn n=%d continuation-flood frames=%d bytes=%d" % (self.n, sent, sent * (size + 9)))

    @staticmethod
    def _int7(rest):
        out = bytearray()
        while rest >= 128:
            out.append((rest % 128) | 0x80)
            rest //= 128
        out.append(rest)
        return bytes(out)

    def random_frames(self, sid, max_frame):
        rng = random.Random(self.args.seed)
        out = []
        for _ in range(self.args.random_frames):
            kind = rng.choice([DATA, HEADERS, 2, RST_STREAM, SETTINGS, 5, PING, GOAWAY, WINDOW_UPDATE,
                               CONTINUATION, rng.randrange(10, 256)])
            stream_id = rng.choice([0, sid, sid + 2, 2, rng.randrange(0, 1 << 31)])
            length = rng.choice([0, 1, 4, 5, 6, 7, 8, 9, rng.randrange(0, 64), rng.randrange(0, max_frame + 2)])
            payload = bytes(rng.getrandbits(8) for _ in range(length))
            out.append(frame(kind, rng.getrandbits(8), stream_id, payload))
        log("conn n=%d random seed=%d frames=%d bytes=%d"
            % (self.n, self.args.seed, len(out), sum(len(f) for f in out)))
        self.write_raw(b"".join(out))


class TunnelError(Exception):
    """Ends a tunnel with RST_STREAM(code); outcome goes to the access log."""

    def __init__(self, code, outcome):
        super().__init__(outcome)
        self.code = code
        self.outcome = outcome


class Server:
    def __init__(self, args):
        self.args = args
        self.connections = set()

    async def on_client(self, reader, writer):
        connection = Connection(self, reader, writer)
        self.connections.add(connection)
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)

    async def main(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.verify_mode = ssl.CERT_REQUIRED  # HBONE: the client SVID is mandatory
        context.load_cert_chain(self.args.cert, self.args.key)
        context.load_verify_locations(cafile=self.args.ca)
        context.set_alpn_protocols(["h2"])
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, ctx: log("conn error=%s %r" % (ctx.get("message"), ctx.get("exception"))))
        host, port = self.args.listen
        server = await asyncio.start_server(self.on_client, host, port, ssl=context, ssl_handshake_timeout=10,
                                            reuse_address=True, limit=READ_CHUNK)
        bound = server.sockets[0].getsockname()
        shown = "[%s]" % bound[0] if ":" in bound[0] else bound[0]
        sys.stdout.write("listening on %s:%d\n" % (shown, bound[1]))
        sys.stdout.flush()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        server.close()
        for connection in list(self.connections):
            connection.closed = True
            connection.writer.transport.abort()
        await asyncio.sleep(0.1)
        log("server stopped")


def build_arguments(argv=None):
    parser = argparse.ArgumentParser(description="HBONE server (HTTP/2 CONNECT over mTLS) on python3-h2.")
    parser.add_argument("--listen", required=True, type=listen_arg, help="HOST:PORT to bind; port 0 picks one")
    parser.add_argument("--cert", required=True, help="server certificate chain (PEM)")
    parser.add_argument("--key", required=True, help="server private key (PEM)")
    parser.add_argument("--ca", required=True, help="trust bundle that client certificates must chain to (PEM)")
    parser.add_argument("--max-concurrent-streams", type=int, default=100, help="advertised and enforced (default 100)")
    parser.add_argument("--initial-window", type=int, default=4 * 1024 * 1024, help="stream window (default 4 MiB)")
    parser.add_argument("--connection-window", type=int, default=16 * 1024 * 1024,
                        help="connection window (default 16 MiB)")
    parser.add_argument("--max-frame-size", type=int, default=16384, help="advertised SETTINGS_MAX_FRAME_SIZE")
    parser.add_argument("--no-huffman", action="store_true", help="HPACK string literals without Huffman coding")
    parser.add_argument("--no-dynamic-table", action="store_true",
                        help="send response headers as never-indexed literals (no dynamic-table entries)")
    parser.add_argument("--goaway-after", type=int, default=0, metavar="N",
                        help="after answering N streams on a connection, GOAWAY(NO_ERROR) and finish open streams")
    parser.add_argument("--reset-connection-after", type=int, default=0, metavar="N",
                        help="after answering N streams on a connection, drop it with a TCP RST")
    parser.add_argument("--reset-delay", type=float, default=0.0, help="seconds between the N-th answer and the RST")
    parser.add_argument("--misbehave", choices=MISBEHAVE_MODES, help="send a malformed frame after the first 200")
    parser.add_argument("--seed", type=int, default=1, help="seed for --misbehave random")
    parser.add_argument("--random-frames", type=int, default=32, help="frame count for --misbehave random")
    parser.add_argument("--flood-seconds", type=float, default=10.0, help="bound on --misbehave continuation-flood")
    parser.add_argument("--idle-timeout", type=int, default=300, help="seconds without bytes before a connection or "
                                                                      "upstream is given up (default 300)")
    parser.add_argument("--stall-timeout", type=int, default=60,
                        help="seconds waiting for client window before RST_STREAM CANCEL (default 60)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        asyncio.run(Server(build_arguments()).main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
