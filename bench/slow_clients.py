#!/usr/bin/env python3
"""Slow-client probe: N connections from this address each send one byte of
a request head per second; prints how long the server held each, and how
fast a normal request is answered meanwhile.

Usage: bench/slow_clients.py HOST:PORT [N] [SECONDS]   (defaults 200, 30)
Standard library only.
"""
import socket
import statistics
import sys
import threading
import time

addr, n, secs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200, float(sys.argv[3]) if len(sys.argv) > 3 else 30
host, port = addr.rsplit(":", 1)
held = []
lock = threading.Lock()
head = b"POST /v1/logs/default/events HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000


def trickle():
    t0 = time.monotonic()
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.settimeout(1.0)
        for b in head:
            if time.monotonic() - t0 > secs:
                break
            s.send(bytes([b]))
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    break  # closed by the server
            except socket.timeout:
                pass
            except OSError:
                break
    except OSError:
        pass
    with lock:
        held.append(time.monotonic() - t0)


threads = [threading.Thread(target=trickle) for _ in range(n)]
for t in threads:
    t.start()
time.sleep(2)
# A normal request meanwhile, from another connection.
t = time.monotonic()
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
answer = s.recv(100)
normal_ms = (time.monotonic() - t) * 1e3
for t in threads:
    t.join()
print(f"{n} trickling connections: held {min(held):.1f}-{max(held):.1f} s (median {statistics.median(held):.1f} s); "
      f"a normal request meanwhile: {answer.split(b' ')[1].decode()} in {normal_ms:.1f} ms")
