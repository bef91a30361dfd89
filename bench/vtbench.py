"""Helpers shared by the Python benchmarks: start a veritrail server (or
witness) and read its admin token and address from its stderr, one HTTP
request, percentiles."""
import http.client, re, subprocess, threading


def start(cmd, env=None):
    """Runs `cmd` (a `veritrail serve` or `witness serve`); returns the
    process, the first-start admin token (or None) and the address it
    serves on, once it says so."""
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    admin = addr = None
    for line in p.stderr:
        if line.startswith("vt_"):
            admin = line.strip()
        m = re.search(r" on http://(\S+)", line)
        if m:
            addr = m.group(1)
            break
    threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
    return p, admin, addr


def req(addr, method, path, token, body=None, ctype="application/json", timeout=120):
    """One request with a bearer token; (status, body bytes)."""
    h, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(h, int(port), timeout=timeout)
    hd = {"Authorization": f"Bearer {token}"}
    if body is not None:
        hd["Content-Type"] = ctype
    c.request(method, path, body=body, headers=hd)
    r = c.getresponse()
    return r.status, r.read()


def metric(addr, admin, name):
    """The value of the first /metrics line of `name` (`name{…}` too), or None."""
    s, m = req(addr, "GET", "/metrics", admin)
    for line in m.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def cpu(pid, threads=False):
    """CPU seconds of a process (per thread name, digits and dashes at the
    end dropped so that pools add up, with threads=True)."""
    import os
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for t in (os.listdir(f"/proc/{pid}/task") if threads else [None]):
        base = f"/proc/{pid}/task/{t}" if t else f"/proc/{pid}"
        try:
            with open(f"{base}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            with open(f"{base}/comm") as f:
                name = (f.read().strip().rstrip("0123456789-") or "?") if t else "all"
        except OSError:
            continue
        out[name] = out.get(name, 0) + (int(st[11]) + int(st[12])) / tick
    return out


def cores(before, after, wall, top=7):
    """"name 0.42, …": cores each thread group used between two cpu() readings."""
    by = {k: after[k] - before.get(k, 0) for k in after}
    return ", ".join(f"{k} {v / wall:.2f}" for k, v in sorted(by.items(), key=lambda x: -x[1])[:top])


def pct(xs, p):
    """The p-th percentile of xs (nearest rank)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def free_port():
    """A TCP port nothing listens on now."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post_batches(addr, token, secs, body, clients=4, beside=()):
    """Posts the NDJSON batch `body` to log `default` over `clients`
    connections, each as fast as the server acknowledges, for `secs`, while
    the functions in `beside` run on threads of their own (each is given the
    deadline); events acknowledged per second."""
    import time
    per = body.count(b"\n") + 1
    stop = time.time() + secs
    counts = [0] * clients

    def client(i):
        h, port = addr.rsplit(":", 1)
        c = http.client.HTTPConnection(h, int(port), timeout=120)
        while time.time() < stop:
            c.request("POST", "/v1/logs/default/events", body=body,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
            r = c.getresponse(); r.read()
            assert r.status == 201, r.status
            counts[i] += per

    ts = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    ts += [threading.Thread(target=f, args=(stop,)) for f in beside]
    t0 = time.time()
    for t in ts: t.start()
    for t in ts: t.join()
    return sum(counts) / (time.time() - t0)


def start_moto(nice=10, cpu=None, idle=False):
    """moto_server (PyPI moto[server]) at `nice` on a free loopback port;
    (process, endpoint URL) once it answers. With `cpu` (a fraction of one
    core), it runs in a cgroup (v1 `cpu` controller) with that CPU quota:
    standing in for an S3 endpoint on another machine, whose CPU is not
    taken from the server's. With `idle`, it runs under SCHED_IDLE
    instead: only on CPU time nothing else wants."""
    import sys, time
    port = free_port()
    prio = ["chrt", "--idle", "0"] if idle else ["nice", "-n", str(nice)]
    p = subprocess.Popen(prio + [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if cpu is not None:
        import os
        group = f"/sys/fs/cgroup/cpu/vt-moto-{p.pid}"
        os.makedirs(group, exist_ok=True)
        for name, value in (("cpu.cfs_period_us", 100000), ("cpu.cfs_quota_us", int(cpu * 100000)), ("tasks", p.pid)):
            with open(os.path.join(group, name), "w") as f:
                f.write(str(value))
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")
            break
        except OSError:
            time.sleep(0.1)
    return p, f"http://127.0.0.1:{port}"


def cleanup(procs, work):
    """Kills what is still running of `procs` and removes `work` (clearing
    the chattr flags a server set there first)."""
    import shutil
    import os
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
        group = f"/sys/fs/cgroup/cpu/vt-moto-{p.pid}"
        if os.path.isdir(group):
            os.rmdir(group)
    subprocess.run(["chattr", "-R", "-a", "-i", work], stderr=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)
