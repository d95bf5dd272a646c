#!/usr/bin/env python3
"""Traffic for the control-plane flapping benchmark (benchmarks/controlplane/flap.sh); run in the client pod.

For SECONDS it keeps:
  - LONG long-lived TCP connections to TARGET, each doing request/response exchanges back to back with a pause of
    GAP seconds: a SIZE-byte random payload whose echo must come back byte for byte (its SHA-256 is compared) within
    5 s. A connection that fails (error, short read, mismatch, timeout) counts as one lost tunnel, with the time, and
    is opened again so the load goes on;
  - RATE new short connections per second (on a fixed schedule; late slots are sent at once): connect, one verified
    exchange, close, each within 5 s.
Every failure is written with its wall-clock time (epoch seconds), so flap.sh can put it into a down or up phase.
Prints one JSON object on stdout. Exit codes: 0 ran to the end (failures are in the JSON), 1 set-up error.
"""
import argparse
import asyncio
import hashlib
import json
import os
import sys
import time

TIMEOUT = 5.0


async def exchange(reader, writer, size):
    payload = os.urandom(size)
    writer.write(payload)
    await writer.drain()
    answer = await reader.readexactly(size)
    if hashlib.sha256(answer).digest() != hashlib.sha256(payload).digest():
        raise RuntimeError("echoed bytes differ (checksum mismatch)")


async def long_lived(index, args, host, port, end, stats):
    while time.time() < end:
        opened = time.time()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
        except (OSError, asyncio.TimeoutError) as error:
            stats["long_open_failures"].append({"conn": index, "t": opened, "error": f"{type(error).__name__}: {error}"})
            await asyncio.sleep(0.5)
            continue
        stats["long_opened"] += 1
        try:
            while time.time() < end:
                await asyncio.wait_for(exchange(reader, writer, args.size), TIMEOUT)
                stats["long_exchanges"] += 1
                await asyncio.sleep(args.gap)
            stats["long_survived"] += 1
        except (OSError, RuntimeError, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
            stats["long_lost"].append({"conn": index, "t": time.time(), "opened": opened,
                                       "error": f"{type(error).__name__}: {error}"})
        finally:
            writer.close()


async def short(host, port, size, stats):
    started = time.time()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
        try:
            await asyncio.wait_for(exchange(reader, writer, size), TIMEOUT)
        finally:
            writer.close()
        stats["short_ok"] += 1
        stats["short_latency"].append(time.time() - started)
    except (OSError, RuntimeError, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
        stats["short_failed"].append({"t": started, "error": f"{type(error).__name__}: {error}"})


async def short_schedule(args, host, port, end, stats):
    tasks = []
    slot = time.time()
    while slot < end:
        delay = slot - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        stats["short_attempted"] += 1
        tasks.append(asyncio.create_task(short(host, port, args.size, stats)))
        slot += 1 / args.rate
    await asyncio.gather(*tasks)


async def main(args):
    host, port = args.target.rsplit(":", 1)
    port = int(port)
    start = time.time()
    end = start + args.seconds
    stats = {"long_opened": 0, "long_survived": 0, "long_exchanges": 0, "long_lost": [], "long_open_failures": [],
             "short_attempted": 0, "short_ok": 0, "short_failed": [], "short_latency": []}
    workers = [long_lived(i, args, host, port, end, stats) for i in range(args.long)]
    await asyncio.wait_for(asyncio.gather(short_schedule(args, host, port, end, stats), *workers),
                           args.seconds + 3 * TIMEOUT + 10)
    latency = sorted(stats.pop("short_latency"))
    pick = lambda q: round(latency[min(len(latency) - 1, int(q * len(latency)))] * 1e3, 2) if latency else None
    stats.update({"target": args.target, "long": args.long, "rate": args.rate, "size": args.size, "gap": args.gap,
                  "start": start, "end": time.time(), "short_p50_ms": pick(0.5), "short_p99_ms": pick(0.99),
                  "short_max_ms": pick(1.0)})
    return stats


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="IP:PORT of an echo server (through the ztunnels)")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--long", type=int, default=8, help="long-lived connections")
    parser.add_argument("--gap", type=float, default=0.01, help="pause between exchanges on a long-lived connection (s)")
    parser.add_argument("--rate", type=float, default=20, help="new short connections per second")
    parser.add_argument("--size", type=int, default=512, help="bytes per request and per response")
    parser.add_argument("--out", required=True, help="where to write the JSON (also printed)")
    args = parser.parse_args()
    try:
        result = asyncio.run(main(args))
    except (OSError, ValueError, asyncio.TimeoutError) as error:
        print(f"flap_load: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    with open(args.out + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(args.out + ".tmp", args.out)
    print(json.dumps({k: v for k, v in result.items() if k not in ("long_lost", "short_failed", "long_open_failures")}))
