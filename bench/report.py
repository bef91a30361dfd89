#!/usr/bin/env python3
"""Turns bench/run.sh measurements (JSON lines) into the results page and plot,
and into BENCHMARKS.md, the page for users.

Usage: report.py RESULTS.json OUT.md OUT.svg --machine TEXT --command TEXT [--scale SCALE.md]
       report.py RESULTS.json --page BENCHMARKS.md --ceiling CEILING.txt --machine-facts MACHINE.txt [--section SECTION.md ...]

Ratios are veritrail ÷ baseline per run (runs alternate the systems), and the
table shows the median of those paired ratios; the detail tables show every
run. Standard library only.
"""

import argparse
import json
import re
import statistics
from collections import defaultdict


def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def by(rows, comparison, system):
    return sorted(
        (r for r in rows if r["comparison"] == comparison and r["system"] == system),
        key=lambda r: r["run"],
    )


def paired(rows, comparison, ours, theirs, key, higher_is_better=True):
    a = {r["run"]: r[key] for r in by(rows, comparison, ours)}
    b = {r["run"]: r[key] for r in by(rows, comparison, theirs)}
    ratios = [
        (a[k] / b[k]) if higher_is_better else (b[k] / a[k])
        for k in sorted(a.keys() & b.keys())
        if a[k] and b[k]
    ]
    return (statistics.median(ratios), len(ratios)) if ratios else (None, 0)


def best_per_run(rows, comparisons, system, name):
    """Appends, per run, the system's fastest row among `comparisons` (its
    client counts) as comparison `name`; returns the rows picked."""
    picked = []
    for run in sorted({r["run"] for r in rows}):
        cands = [r for c in comparisons for r in by(rows, c, system) if r["run"] == run and r.get("events_per_s")]
        if cands:
            picked.append(max(cands, key=lambda r: r["events_per_s"]))
    rows.extend(dict(r, comparison=name) for r in picked)
    return picked


def fmt(v, digits=0):
    if v is None:
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.{max(digits, 2)}f}"


def med(rows, comparison, system, key):
    v = [r[key] for r in by(rows, comparison, system) if key in r]
    return statistics.median(v) if v else None


def scale_points(path):
    """veritrail's growth table (bench/scale.sh output in BENCHMARKS style)."""
    pts = []
    if not path:
        return pts
    try:
        text = open(path).read()
    except OSError:
        return pts
    for line in text.splitlines():
        m = re.match(r"\|\s*([\d,]+)\s*\|\s*([\d,]+)\s*\|\s*(\d+) MiB\s*\|\s*([\d.]+) s\s*\|\s*(\d+) MiB\s*\|\s*([\d,]+)\s*\|", line)
        if m:
            n, rate, rss, rec, rrss, vrate = m.groups()
            pts.append({
                "events": int(n.replace(",", "")), "ingest": float(rate.replace(",", "")),
                "ingest_rss_mib": int(rss), "recovery_s": float(rec), "recovery_rss_mib": int(rrss),
                "verify": float(vrate.replace(",", "")),
            })
    return pts


def svg_plot(series_by_panel, out):
    """Two log-log panels: ingest rate and recovery time against log size."""
    import math

    w, h, pad = 900, 380, 60
    pw = (w - 3 * pad) / 2
    colors = {"veritrail": "#1f77b4", "postgresql": "#d62728", "sqlite": "#2ca02c"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>']
    for p, (title, unit, series) in enumerate(series_by_panel):
        x0 = pad + p * (pw + pad)
        y0, ph = 40, h - 100
        xs = [x for s in series.values() for x, _ in s]
        ys = [y for s in series.values() for _, y in s if y > 0]
        if not xs or not ys:
            continue
        lx0, lx1 = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)) + 1e-9)
        ly0, ly1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)) + 1e-9)
        lx1 = max(lx1, lx0 + 1)
        ly1 = max(ly1, ly0 + 1)
        X = lambda v: x0 + (math.log10(v) - lx0) / (lx1 - lx0) * pw
        Y = lambda v: y0 + ph - (math.log10(v) - ly0) / (ly1 - ly0) * ph
        parts.append(f'<text x="{x0 + pw / 2}" y="24" text-anchor="middle" font-size="14">{title}</text>')
        parts.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
        for e in range(lx0, lx1 + 1):
            parts.append(f'<text x="{X(10 ** e)}" y="{y0 + ph + 16}" text-anchor="middle">1e{e}</text>')
        for e in range(ly0, ly1 + 1):
            parts.append(f'<text x="{x0 - 6}" y="{Y(10 ** e) + 4}" text-anchor="end">1e{e}</text>')
            parts.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{Y(10 ** e)}" y2="{Y(10 ** e)}" stroke="#eee"/>')
        parts.append(f'<text x="{x0 + pw / 2}" y="{y0 + ph + 34}" text-anchor="middle">events in the log</text>')
        parts.append(f'<text x="{x0 - 44}" y="{y0 + ph / 2}" transform="rotate(-90 {x0 - 44} {y0 + ph / 2})" text-anchor="middle">{unit}</text>')
        for name, pts in series.items():
            pts = sorted(p for p in pts if p[1] > 0)
            if not pts:
                continue
            c = colors.get(name, "#555")
            if len(pts) > 1:
                d = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in pts)
                parts.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="2"/>')
            for x, y in pts:
                parts.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="4" fill="{c}"/>')
    lx = pad
    for name, c in colors.items():
        parts.append(f'<rect x="{lx}" y="{h - 24}" width="12" height="12" fill="{c}"/><text x="{lx + 16}" y="{h - 14}">{name}</text>')
        lx += 120
    parts.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")


def ceilings(text):
    """The machine's ceilings from bench/ceiling.sh's output."""
    c = {}
    m = re.search(r"ceilings here: CPU ([\d.]+) M events/s.*?disk ([\d.]+) M events/s \((\d+) MB/s durable at (\d+) B per event\); HTTP ([\d,]+) requests/s", text)
    if m:
        c["cpu"] = float(m.group(1)) * 1e6
        c["disk"] = float(m.group(2)) * 1e6
        c["disk_mb"] = int(m.group(3))
        c["http"] = float(m.group(5).replace(",", ""))
    return c


def facts(text):
    """`key: value` lines of bench/machine.sh."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(": ")
        if sep:
            out[k.strip()] = v.strip()
    return out


def add_best(rows):
    """The per-run best client counts the tables pair (see main)."""
    for sys_, comps in {"veritrail": ("batch", "batch16"), "postgresql": ("batch", "batch4"),
                        "sqlite": ("batch", "batch4")}.items():
        best_per_run(rows, comps, sys_, "batchbest")
    best_per_run(rows, ("single64", "single8"), "postgresql", "single64best")
    for sys_ in ("veritrail", "veritrail-http"):
        best_per_run(rows, ("single64",), sys_, "single64best")


def page(a):
    """BENCHMARKS.md: the machine, one headline table, how to reproduce, the
    plot, what bounds the figures. Every figure comes from the files named."""
    rows = load(a.results)
    add_best(rows)
    ceil = ceilings(open(a.ceiling).read())
    mach = facts(open(a.machine_facts).read())
    name = a.results.split("/")[-1].removesuffix(".json")
    runs = max((r["run"] for r in rows), default=0)

    def ratio(comp, theirs, ours="veritrail", key="events_per_s", hib=True):
        r, _ = paired(rows, comp, ours, theirs, key, hib)
        return f"{r:,.1f}×" if r else "–"

    def of_ceiling(v, c):
        return f"{v / ceil[c] * 100:.0f}% of {fmt(ceil[c])}" if v and ceil.get(c) else "–"

    batch = med(rows, "batchbest", "veritrail", "events_per_s")
    single = med(rows, "single64best", "veritrail", "events_per_s")
    http = med(rows, "single64best", "veritrail-http", "events_per_s")
    warm = med(rows, "verify", "veritrail", "events_per_s")
    cold = med(rows, "verify_cold", "veritrail", "events_per_s")
    rec = med(rows, "recovery", "veritrail", "secs")
    disk = med(rows, "disk", "veritrail", "bytes_per_event")
    bytes_ratio = lambda base: (f"{med(rows, 'disk', base, 'bytes_per_event') / disk:.2f}× smaller"
                                if disk and med(rows, "disk", base, "bytes_per_event") else "–")
    n_verify = (by(rows, "verify", "veritrail") or [{}])[0].get("events")
    # A hash chain proves a row only by walking the chain to it.
    proof_ms = med(rows, "proof", "veritrail-http", "p50_ms") or 0
    pg_commit = med(rows, "proof", "postgresql", "p50_ms")
    pg_walk = med(rows, "verify", "postgresql", "secs")
    proof_ratio = (f"{(pg_commit / 1e3 + pg_walk) / (proof_ms / 1e3):,.0f}× (commit + chain walk)"
                   if proof_ms and pg_commit and pg_walk else "–")
    md = ["# veritrail benchmarks\n",
          "What veritrail does on one small machine, side by side with what users would build "
          "instead: PostgreSQL 15 with a hash-chain trigger, and SQLite with an application-side "
          "hash chain. Every system is durable before it acknowledges (veritrail: `fdatasync` per "
          "group commit; PostgreSQL: `fsync=on`, `synchronous_commit=on`; SQLite: WAL, "
          "`synchronous=FULL`). Events are 300 bytes. Generated by `bench/report.py` from "
          f"[`bench/results/{name}.json`](bench/results/{name}.json) ({runs} runs, the systems "
          f"alternating) and [`{a.ceiling.split('/')[-1]}`](bench/results/{a.ceiling.split('/')[-1]}); "
          "the lab notebook, with every experiment, is [bench/NOTES.md](bench/NOTES.md).\n",
          "## The machine\n",
          "| | |", "| --- | --- |",
          f"| CPU | {mach.get('cpu', '–')} |",
          f"| memory | {mach.get('memory', '–')} |",
          f"| kernel | {mach.get('kernel', '–')} |",
          f"| file system | {mach.get('filesystem', '–')} |",
          f"| durable write latency | {mach.get('fdatasync of a 4 KiB append', '–')} |",
          f"| ceilings (`bench/ceiling.sh`) | CPU {fmt(ceil.get('cpu'))} events/s (the per-event work alone, all cores); "
          f"disk {fmt(ceil.get('disk'))} events/s ({ceil.get('disk_mb', '–')} MB/s made durable); "
          f"HTTP {fmt(ceil.get('http'))} requests/s (the server stack doing nothing) |",
          "",
          "## Headline\n",
          "Medians of the runs; ratios are veritrail ÷ the baseline per run (the median of the "
          "pairs; above 1, veritrail is better), each system at its better client count.\n",
          "| measurement | veritrail | ÷ PostgreSQL | ÷ SQLite | ÷ this machine's ceiling |",
          "| --- | --- | --- | --- | --- |",
          f"| batched durable ingest, 1,000 events per call, events/s | {fmt(batch)} | {ratio('batchbest', 'postgresql')} | {ratio('batchbest', 'sqlite')} | {of_ceiling(batch, 'disk')} (disk) |",
          f"| ack latency of a batch, p50 / p99 | {med(rows, 'batchbest', 'veritrail', 'p50_ms'):.0f} / {med(rows, 'batchbest', 'veritrail', 'p99_ms'):.0f} ms | – | – | – |",
          f"| single-event durable ingest, 64 clients, library, events/s | {fmt(single)} | {ratio('single64best', 'postgresql')} | {ratio('single64', 'sqlite')} | – |",
          f"| single-event durable ingest, 64 clients over HTTP, requests/s | {fmt(http)} | {ratio('single64best', 'postgresql', 'veritrail-http')} | – | {of_ceiling(http, 'http')} (HTTP) |",
          f"| full verification of {fmt(n_verify)} events, page cache warm, events/s | {fmt(warm)} | {ratio('verify', 'postgresql')} | {ratio('verify', 'sqlite')} | {of_ceiling(warm, 'cpu')} (CPU) |",
          f"| the same, page cache dropped | {fmt(cold)} | {ratio('verify_cold', 'postgresql')} | {ratio('verify_cold', 'sqlite')} | – |",
          f"| append → receipt (signed checkpoint and inclusion proof), p50 | {proof_ms:.0f} ms | {proof_ratio} | – | – |",
          f"| recovery after SIGKILL during ingest, seconds | {fmt(rec, 2)} | {ratio('recovery', 'postgresql', key='secs', hib=False)} | – | – |",
          f"| disk bytes per event | {fmt(disk, 0)} | {bytes_ratio('postgresql')} | {bytes_ratio('sqlite')} | – |",
          "",
          "## Reproduce\n",
          "```sh",
          "bench/run.sh            # every comparison above, 5 runs (about 45 minutes; installs PostgreSQL, SQLite, wrk)",
          "bench/run.sh --quick    # small sizes, a few minutes (CI runs it)",
          "bench/ceiling.sh        # this machine's CPU, disk and HTTP ceilings",
          "bench/machine.sh        # the machine table",
          "bench/scale.sh          # ingest, recovery and verify at 1 M, 10 M and 100 M events",
          "```\n",
          "Each writes its results to `bench/results/`; `bench/report.py` (its usage line says how) "
          "makes this page from them.\n",
          f"![durable ingest and recovery time against log size](bench/results/{name}-plot.svg)\n",
          "## What bounds the figures\n",
          "Batched ingest is bound by the disk (about 340 bytes made durable per event: the entry, "
          "its WAL header and its leaf hash); single-event ingest by each client's round trip and "
          "the `fdatasync` a group commit waits for, and over HTTP by the 2 cores the clients, the "
          "server and the query indexer share; verification by hashing (warm) or the disk's read "
          "rate (cold). Recovery reads only each file's tail, so it does not grow with the log. "
          "Compare ratios within a run, not rates across days.\n",
          ]
    # One section per capability, each measured by its own script and
    # written next to its raw output in bench/results/.
    for sec in a.section or []:
        with open(sec) as f:
            md.append(f.read().rstrip() + "\n")
    with open(a.page, "w") as f:
        f.write("\n".join(md))


def main():
    if "--page" in __import__("sys").argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("results")
        ap.add_argument("--page", required=True)
        ap.add_argument("--ceiling", required=True)
        ap.add_argument("--machine-facts", required=True)
        ap.add_argument("--section", action="append", help="a capability's section (markdown), appended; repeatable")
        page(ap.parse_args())
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("md")
    ap.add_argument("svg")
    ap.add_argument("--machine", default="")
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--scale")
    a = ap.parse_args()
    rows = load(a.results)
    runs = max((r["run"] for r in rows), default=0)
    n = lambda c, s: (by(rows, c, s) or [{}])[0].get("events")

    # Batched ingest is measured at two client counts per system and run;
    # "batchbest" is each system's better one in that run.
    variants = {
        "veritrail": {"batch": "64 threads", "batch16": "16 threads"},
        "postgresql": {"batch": "1 client", "batch4": "4 clients"},
        "sqlite": {"batch": "1 client", "batch4": "4 clients"},
    }
    best_counts = defaultdict(lambda: defaultdict(int))
    for sys_, comps in variants.items():
        for top in best_per_run(rows, comps, sys_, "batchbest"):
            best_counts[sys_][top["comparison"]] += 1

    ratio_rows = [
        ("batched durable ingest (1,000 per call/transaction), each system at its better client count per run", "batchbest", "veritrail", "postgresql", "events_per_s", True, "≥ 100×"),
        ("batched durable ingest (1,000 per call/transaction), each system at its better client count per run", "batchbest", "veritrail", "sqlite", "events_per_s", True, "≥ 8×"),
        ("batched durable ingest, veritrail 64 writer threads against one client", "batch", "veritrail", "postgresql", "events_per_s", True, ""),
        ("batched durable ingest, veritrail 64 writer threads against one client", "batch", "veritrail", "sqlite", "events_per_s", True, ""),
        ("single-event durable ingest, 64 clients (library)", "single64", "veritrail", "postgresql", "events_per_s", True, ""),
        ("single-event durable ingest, 64 clients (HTTP)", "single64", "veritrail-http", "postgresql", "events_per_s", True, ""),
        ("single-event ingest, 64 clients (library) vs PostgreSQL at its better client count per run", "single64best", "veritrail", "postgresql", "events_per_s", True, "≥ 20× PostgreSQL at its best client count"),
        ("single-event ingest, 64 clients (HTTP) vs PostgreSQL at its better client count per run", "single64best", "veritrail-http", "postgresql", "events_per_s", True, "≥ 20× PostgreSQL at its best client count"),
        ("single-event durable ingest, 64 clients (library)", "single64", "veritrail", "sqlite", "events_per_s", True, ""),
        ("full verification, per event, page cache warm (a second run right after a full read)", "verify", "veritrail", "postgresql", "events_per_s", True, "≥ 10×"),
        ("full verification, per event, page cache warm", "verify", "veritrail", "sqlite", "events_per_s", True, ""),
        ("full verification, per event, page cache cold (dropped before each run)", "verify_cold", "veritrail", "postgresql", "events_per_s", True, "≥ 10×"),
        ("full verification, per event, page cache cold", "verify_cold", "veritrail", "sqlite", "events_per_s", True, ""),
        ("recovery after a crash", "recovery", "veritrail", "postgresql", "secs", False, ""),
    ]
    # "single64best": our 64-client figures against PostgreSQL's better run
    # of 64 and 8 clients.
    best_per_run(rows, ("single64", "single8"), "postgresql", "single64best")
    for sys_ in ("veritrail", "veritrail-http"):
        best_per_run(rows, ("single64",), sys_, "single64best")

    md = []
    md.append(f"# Side-by-side results ({a.md.split('/')[-1].removesuffix('.md')})\n")
    md.append(f"Command: `{a.command}`. Machine: {a.machine}. {runs} runs of every comparison, the systems alternating within each run; every system durable before it acknowledges (veritrail: `fdatasync` per group commit; PostgreSQL 15: `fsync=on`, `synchronous_commit=on`; SQLite: WAL, `synchronous=FULL`). Events are 300 bytes. Raw measurements: the `.json` file next to this one.\n")
    md.append("## Ratios (veritrail ÷ baseline, median of the per-run pairs)\n")
    won = "; ".join(
        f"{sys_}: " + ", ".join(f"{variants[sys_][c]} in {k}" for c, k in sorted(best_counts[sys_].items()))
        for sys_ in variants if best_counts[sys_]
    )
    md.append("Above 1: veritrail is better (more events per second, or fewer seconds, or fewer bytes). Batched ingest is measured at two client counts per system in every run — veritrail with 64 and with 16 writer threads of 1,000-event batches, each thread preparing its own (`batch` and `batch16` below), PostgreSQL and SQLite with one client and with four (`batch` and `batch4`; their writers serialise on the chain head) — and the first two rows pair each system's better count in that run (`batchbest`; runs won: " + won + "). veritrail's batched runs load three times the baselines' events (at 64 writers a run of the baselines' size is ~16 calls per writer, mostly the pipeline filling and draining); PostgreSQL's four-client runs load a tenth (they are slow); every run starts from an empty table or log. `batch1` shows veritrail with one writer, `batch4cb` with the 4 callback-driven writers of runs before session 5.\n")
    md.append("| comparison | baseline | ratio | target | pairs |")
    md.append("| --- | --- | --- | --- | --- |")
    for title, comp, ours, theirs, key, hib, target in ratio_rows:
        r, k = paired(rows, comp, ours, theirs, key, hib)
        md.append(f"| {title} | {theirs}{' (64 or 8 clients)' if comp == 'single64best' else ''} | {fmt(r, 1) + '×' if r else 'not measured'} | {target} | {k} |")
    vt_d = med(rows, "disk", "veritrail", "bytes_per_event")
    for base in ("postgresql", "sqlite"):
        b = med(rows, "disk", base, "bytes_per_event")
        if vt_d and b:
            md.append(f"| disk bytes per event (lower is better; shown as baseline ÷ veritrail) | {base} | {fmt(b / vt_d, 1)}× | | 1 |")
    md.append("")

    md.append("## Medians\n")
    md.append("| comparison | system | events | median events/s | median p50 ms | median p99 ms | median seconds |")
    md.append("| --- | --- | --- | --- | --- | --- | --- |")
    for comp in ("load", "batchbest", "batch", "batch16", "batch4", "batch1", "batch4cb", "single64", "single8", "verify", "verify_cold", "proof", "recovery"):
        for sys_ in ("veritrail", "veritrail-http", "postgresql", "sqlite"):
            if by(rows, comp, sys_):
                md.append(
                    f"| {comp} | {sys_} | {fmt(n(comp, sys_))} | {fmt(med(rows, comp, sys_, 'events_per_s'))} | "
                    f"{fmt(med(rows, comp, sys_, 'p50_ms'), 2)} | {fmt(med(rows, comp, sys_, 'p99_ms'), 2)} | {fmt(med(rows, comp, sys_, 'secs'), 2)} |"
                )
    md.append("")
    md.append("## Append to a verifiable proof\n")
    vt_p = med(rows, "proof", "veritrail-http", "p50_ms")
    pg_c = med(rows, "proof", "postgresql", "p50_ms")
    pg_walk = med(rows, "verify", "postgresql", "secs")
    pg_n = n("verify", "postgresql")
    md.append(f"veritrail answers `POST …/events?wait=proof` with a signed checkpoint and an inclusion proof: median p50 **{fmt(vt_p, 2)} ms** from one client (the checkpoint is signed on request, 50 ms after the previous one at the latest). A hash chain has no proof shorter than the chain: PostgreSQL commits a row in {fmt(pg_c, 2)} ms (p50, one client), and showing that the row is linked to the chain head means walking the chain — {fmt(pg_walk, 2)} s for {fmt(pg_n)} rows here. Ratio at that size: {fmt((pg_c / 1e3 + pg_walk) / (vt_p / 1e3) if vt_p and pg_c and pg_walk else None, 1)}×.\n")
    md.append("## Disk bytes per event\n")
    md.append("After loading the verification data set. veritrail: the log directory (entries, hash levels, index, checkpoints; not the derived query index). PostgreSQL: `pg_total_relation_size` of the table (heap, TOAST, primary key; not WAL). SQLite: the database file after a WAL checkpoint.\n")
    md.append("| system | events | bytes | bytes/event |")
    md.append("| --- | --- | --- | --- |")
    for sys_ in ("veritrail", "postgresql", "sqlite"):
        for r in by(rows, "disk", sys_):
            md.append(f"| {sys_} | {fmt(r['events'])} | {fmt(r['bytes'])} | {fmt(r['bytes_per_event'], 1)} |")
    md.append("")
    md.append("## Every run\n")
    md.append("| comparison | system | run | events | events/s | p50 ms | p99 ms | seconds |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: (r["comparison"], r["system"], r["run"])):
        if r["comparison"] in ("disk", "single64best", "batchbest"):
            continue
        md.append(
            f"| {r['comparison']} | {r['system']} | {r['run']} | {fmt(r.get('events'))} | {fmt(r.get('events_per_s'))} | "
            f"{fmt(r.get('p50_ms'), 2)} | {fmt(r.get('p99_ms'), 2)} | {fmt(r.get('secs'), 2)} |"
        )
    md.append("")

    # Growth: veritrail from bench/scale.sh; baselines where this run measured them.
    scale = scale_points(a.scale)
    ingest = defaultdict(list)
    recovery = defaultdict(list)
    for p in scale:
        ingest["veritrail"].append((p["events"], p["ingest"]))
        recovery["veritrail"].append((p["events"], p["recovery_s"]))
    for sys_ in ("postgresql", "sqlite"):
        for comp in ("batch", "load"):
            v, e = med(rows, comp, sys_, "events_per_s"), n(comp, sys_)
            if v and e:
                ingest[sys_].append((e, v))
    for sys_ in ("veritrail", "postgresql"):
        v, e = med(rows, "recovery", sys_, "secs"), n("load", sys_) or n("verify", sys_)
        if v and e and not (sys_ == "veritrail" and scale):
            recovery[sys_].append((e, v))
    svg_plot(
        [("durable batched ingest", "events/s", ingest), ("recovery after a crash", "seconds", recovery)],
        a.svg,
    )
    md.append("## How costs grow\n")
    md.append(f"![ingest rate and recovery time against log size]({a.svg.split('/')[-1]})\n")
    if scale:
        md.append(f"veritrail's points come from `bench/scale.sh` ({a.scale.split('/')[-1]}): ingest, recovery after SIGKILL and verify at 1 M, 10 M and 100 M events, with their RSS:\n")
        md.append("| events | ingest events/s | ingest RSS | recovery | recovery RSS | verify entries/s |")
        md.append("| --- | --- | --- | --- | --- | --- |")
        for p in scale:
            md.append(f"| {fmt(p['events'])} | {fmt(p['ingest'])} | {p['ingest_rss_mib']} MiB | {p['recovery_s']} s | {p['recovery_rss_mib']} MiB | {fmt(p['verify'])} |")
        md.append("")
    md.append("Baseline points are the sizes this run loaded (the batched-ingest size and the verification data set); PostgreSQL's recovery is `pg_ctl stop -m immediate` followed by a timed `pg_ctl start -w` with the verification data in place.\n")
    with open(a.md, "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
