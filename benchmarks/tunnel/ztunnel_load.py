#!/usr/bin/env python3
"""Paced request/response load for the ztunnel CPU/RSS figure (benchmarks/tunnel/run.sh ztunnel-load).

Opens CONNECTIONS persistent TCP connections to TARGET and sends RATE requests per second in total
(each connection sends SIZE bytes on its own fixed schedule, waits for SIZE bytes back, then waits for
its next slot; a late slot is sent at once, so the schedule catches up). After WARMUP seconds it
measures for SECONDS: achieved exchanges/s, round-trip p50/p99, and for every NAME=PID in --pids the
CPU (utime+stime delta over the window / wall time = vCPU) and VmRSS (sampled every 0.5 s: median and
peak). Prints one JSON object. Exit codes: 0 measured, 1 a connection failed or the run overran.
Runs wherever the target is reachable: run.sh starts it inside the client pod (ip netns exec).
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """(user, system) CPU seconds: utime and stime, fields 14 and 15 of proc_pid_stat(5)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def connection(index, args, t0, window, latencies, counts):
    host, port = args.target.rsplit(":", 1)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 10)
    payload = bytes((index + i) % 256 for i in range(args.size))
    period = args.connections / args.rate
    slot = t0 + index / args.rate
    loop = asyncio.get_running_loop()
    try:
        while slot < window[1]:
            delay = slot - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = loop.time()
            writer.write(payload)
            answer = await asyncio.wait_for(reader.readexactly(args.size), 5)
            done = loop.time()
            if answer != payload:
                raise RuntimeError(f"connection {index}: the echoed bytes differ from the ones sent")
            if window[0] <= sent < window[1]:
                latencies.append(done - sent)
                counts["late"] += delay < -0.001
            slot += period
    finally:
        writer.close()


async def sample(pids, window, samples):
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0, window[0] - loop.time()))
    start = {name: cpu_seconds(pid) for name, pid in pids.items()}
    wall_start = time.monotonic()
    while loop.time() < window[1]:
        for name, pid in pids.items():
            samples[name].append(rss_kib(pid))
        await asyncio.sleep(min(0.5, max(0, window[1] - loop.time())))
    wall = time.monotonic() - wall_start
    end = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return {name: ((end[name][0] - start[name][0]) / wall, (end[name][1] - start[name][1]) / wall) for name in pids}, wall


async def main(args):
    pids = dict(item.split("=", 1) for item in args.pids.split(",")) if args.pids else {}
    pids = {name: int(pid) for name, pid in pids.items()}
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.5
    window = (t0 + args.warmup, t0 + args.warmup + args.seconds)
    latencies, counts, samples = [], {"late": 0}, {name: [] for name in pids}
    workers = [connection(i, args, t0, window, latencies, counts) for i in range(args.connections)]
    results = await asyncio.wait_for(asyncio.gather(sample(pids, window, samples), *workers),
                                     args.warmup + args.seconds + 30)
    vcpu, wall = results[0]
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6, 1)
    return {
        "target": args.target, "connections": args.connections, "requested_rps": args.rate, "size": args.size,
        "warmup_s": args.warmup, "seconds": args.seconds, "exchanges": len(latencies),
        "achieved_rps": round(len(latencies) / args.seconds, 1), "late_sends": counts["late"],
        "p50_us": pick(0.50), "p99_us": pick(0.99), "max_us": pick(1.0),
        "processes": [{
            "name": name, "pid": pid, "vcpu": round(sum(vcpu[name]), 4),
            "vcpu_user": round(vcpu[name][0], 4), "vcpu_system": round(vcpu[name][1], 4),
            "rss_median_mib": round(statistics.median(samples[name]) / 1024, 1),
            "rss_peak_mib": round(max(samples[name]) / 1024, 1), "rss_samples": len(samples[name]),
        } for name, pid in pids.items()],
        "window_wall_s": round(wall, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="IP:PORT of an echo server (through the ztunnels)")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1000, help="request/response exchanges per second, in total")
    parser.add_argument("--size", type=int, default=1024, help="bytes per request and per response")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--pids", default="", help="NAME=PID,... to sample (CPU, VmRSS)")
    try:
        print(json.dumps(asyncio.run(main(parser.parse_args()))))
    except (OSError, RuntimeError, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
        print(f"ztunnel_load: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
