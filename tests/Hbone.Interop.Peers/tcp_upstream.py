#!/usr/bin/python3
"""A tiny TCP upstream for HBONE tunnel tests: echo (with half-close), or reset after N bytes.

    --mode echo        echo every byte; FIN from the peer -> FIN back once all was echoed
    --mode reset       read --reset-after bytes (default 0: at once), then close with a TCP RST (SO_LINGER 0)

stdout: "listening on HOST:PORT" once bound. stderr: one line per connection. Runs until SIGTERM/SIGINT.
"""

import argparse
import asyncio
import signal
import socket
import struct
import sys


async def handle(args, reader, writer):
    peer = writer.get_extra_info("peername")
    count = 0
    outcome = "eof"
    try:
        while True:
            if args.mode == "reset" and count >= args.reset_after:
                writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                outcome = "rst"
                return
            limit = 65536 if args.mode == "echo" else max(1, args.reset_after - count)
            data = await asyncio.wait_for(reader.read(limit), args.idle_timeout)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()  # half-close: answer FIN with FIN after the echo
                await writer.drain()
                return
            count += len(data)
            if args.mode == "echo":
                writer.write(data)
                await writer.drain()
    except (ConnectionError, OSError, asyncio.TimeoutError) as error:
        outcome = "error(%s)" % error.__class__.__name__
    finally:
        sys.stderr.write("upstream peer=%s:%s bytes=%d outcome=%s\n" % (peer[0], peer[1], count, outcome))
        sys.stderr.flush()
        writer.close()


async def main(args):
    server = await asyncio.start_server(lambda r, w: handle(args, r, w), args.host, args.port)
    print("listening on %s:%d" % server.sockets[0].getsockname()[:2], flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=("echo", "reset"), default="echo")
    parser.add_argument("--reset-after", type=int, default=0)
    parser.add_argument("--idle-timeout", type=float, default=300.0)
    asyncio.run(main(parser.parse_args()))
