#!/usr/bin/python3
"""Load for a ztunnel being stopped: short and long echo connections to HOST:PORT for SECONDS.

12 threads open, write 16 KiB, half-close and read to EOF, again and again; 4 threads keep one connection each
and exchange 16 KiB blocks. Failures are expected (the proxy goes away under them) and only counted.
Usage: load_clients.py HOST PORT SECONDS   (prints "ok=N failed=M" at the end)
"""
import os
import socket
import sys
import threading
import time

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.time() + seconds
payload = os.urandom(16384)
counts = {"ok": 0, "failed": 0}
lock = threading.Lock()


def count(key):
    with lock:
        counts[key] += 1


def short():
    while time.time() < end:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            count("ok")
        except OSError:
            count("failed")
            time.sleep(0.01)


def long():
    while time.time() < end:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                while time.time() < end:
                    s.sendall(payload)
                    got = 0
                    while got < len(payload):
                        data = s.recv(65536)
                        if not data:
                            raise OSError("closed")
                        got += len(data)
                    count("ok")
        except OSError:
            count("failed")
            time.sleep(0.01)


threads = [threading.Thread(target=short) for _ in range(12)] + [threading.Thread(target=long) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("ok=%d failed=%d" % (counts["ok"], counts["failed"]))
