#!/usr/bin/env python3
"""Would several fdatasyncs in flight raise group-commit throughput on this disk?

Usage: bench/fsync_pipeline.py FILE [SECONDS] [BYTES]

K threads (K = 1, 2, 4) each append BYTES to one O_APPEND file (one write at a
time, under a lock, like a single sequencer) and then call fdatasync through
their own descriptor, so up to K syncs are in flight at once. Prints commit
groups per second and the mean append + fdatasync latency for each K. FILE is
created and removed; put it on the file system being measured.
"""
import os
import sys
import threading
import time


def run(path, k, secs, size):
    buf = b"x" * size
    fd0 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
    lock = threading.Lock()
    done = [0]
    stop = time.time() + secs

    def worker():
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        n = 0
        while time.time() < stop:
            with lock:
                os.write(fd0, buf)
            os.fdatasync(fd)
            n += 1
        os.close(fd)
        with lock:
            done[0] += n

    threads = [threading.Thread(target=worker) for _ in range(k)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    os.close(fd0)
    os.unlink(path)
    groups = done[0] / elapsed
    print(f"in flight {k}, {size} B per group: {groups:,.0f} groups/s, "
          f"{groups * size / 1e6:.1f} MB/s, latency {k / groups * 1e6:.0f} µs")


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) > 1 else 2)
    path = sys.argv[1]
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 20480
    for k in (1, 2, 4):
        run(path, k, secs, size)


if __name__ == "__main__":
    main()
