#!/usr/bin/env python3
"""Fails on a dangling reference in the prose of this repository.

Checked, in README.md, BENCHMARKS.md, docs/, bench/NOTES.md, and the comments
of Rust, shell and Python sources:

  * paths into the repository (`crates/...`, `docs/...`, `bench/...`,
    `scripts/...`, `tools/...`, `interop/...`, `rules/...`) must exist;
  * a bare `name.rs` must name a Rust file somewhere in the repository;
  * `FILE.md "Section"` must name a heading of that file that contains
    "Section";
  * Markdown links `[text](target#anchor)` must reach an existing file and,
    with an anchor, a heading whose GitHub slug is the anchor;
  * `name.rs` followed by a backticked symbol must name a symbol that
    occurs in that file;
  * in Markdown, a backticked Rust path `Type::item` must name items that
    are defined in the crates (`fn`, `struct`, `enum`, `const`, a field or
    a variant).

Symbols in Rust doc comments are checked by rustdoc (scripts/test.sh runs
`cargo doc` with broken intra-doc links denied).

Usage: scripts/check-doc-refs.py  (exit 1 and one line per dangling reference)
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)

tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, text=True, check=True).stdout.split()
files = set(tracked)
dirs = set()
for f in files:
    p = os.path.dirname(f)
    while p:
        dirs.add(p)
        p = os.path.dirname(p)
rust_names = {os.path.basename(f) for f in files if f.endswith(".rs")}

def exists(path):
    path = path.rstrip("/")
    return path in files or path in dirs

def md_files():
    out = ["README.md", "BENCHMARKS.md"]
    out += sorted(f for f in files if f.startswith("docs/") and f.endswith(".md"))
    out += [f for f in ("bench/NOTES.md",) if f in files]
    return [f for f in out if f in files]

def source_files():
    return sorted(f for f in files
                  if f.endswith((".rs", ".sh", ".py")) and not f.startswith("bench/results/")
                  and "/fuzz/corpus/" not in f)

def slug(heading):
    h = heading.strip().lower()
    h = re.sub(r"[`*_~]", "", h) if False else h.replace("`", "")
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")

headings = {}
def heading_list(md):
    if md not in headings:
        hs = []
        try:
            with open(md, encoding="utf-8") as fh:
                in_code = False
                for line in fh:
                    if line.startswith("```"):
                        in_code = not in_code
                    elif not in_code and re.match(r"#{1,6} ", line):
                        hs.append(line.lstrip("#").strip())
        except FileNotFoundError:
            pass
        headings[md] = hs
    return headings[md]

# Items defined in the crates, for `Type::item` references.
defined = set()
for f in files:
    if f.startswith("crates/") and f.endswith(".rs"):
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        defined.update(re.findall(r"\b(?:fn|struct|enum|trait|const|type|mod|static)\s+([A-Za-z_][A-Za-z0-9_]*)", text))
        defined.update(re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[:({,]", text, re.M))
        defined.update(re.findall(r"^\s*([A-Z][A-Za-z0-9_]*)\s*(?:=|,|\{|\()", text, re.M))

PATH_RE = re.compile(r"(?<![\w./-])((?:crates|docs|bench|scripts|tools|interop|rules)/[A-Za-z0-9_.*/-]*[A-Za-z0-9_])")
RS_RE = re.compile(r"(?<![\w/.-])([a-z_][a-z0-9_]*\.rs)\b")
SECTION_RE = re.compile(r"\b([A-Z][A-Z_]*\.md)\"?`?\s+\"([^\"]+)\"")
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FILE_SYM_RE = re.compile(r"`?\b([a-z_][a-z0-9_]*\.rs)`?\s+`([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)")
SYM_RE = re.compile(r"`([A-Z][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)+)(?:\(\))?`")

problems = []
def problem(where, what):
    problems.append(f"{where}: {what}")

def md_path(name):
    """A bare FILE.md as referred to from anywhere: the repository's copy."""
    for cand in (name, "docs/" + name, "bench/" + name):
        if cand in files:
            return cand
    return None

def check_text(where, text, base_dir, markdown):
    for m in PATH_RE.finditer(text):
        p = m.group(1)
        if "*" in p or "<" in p:
            continue
        if not exists(p):
            problem(where, f"no such file or directory: {p}")
    for m in RS_RE.finditer(text):
        if m.group(1) not in rust_names:
            problem(where, f"no Rust file named {m.group(1)}")
    for m in SECTION_RE.finditer(text):
        md, section = md_path(m.group(1)), m.group(2)
        if md is None:
            problem(where, f"no such document: {m.group(1)}")
        elif not any(section in h for h in heading_list(md)):
            problem(where, f"{md} has no section {section!r}")
    for m in FILE_SYM_RE.finditer(text):
        name, sym = m.group(1), m.group(2).split("::")[-1]
        sources = [f for f in files if os.path.basename(f) == name]
        if sources and not any(re.search(r"\b" + re.escape(sym) + r"\b", open(f, encoding="utf-8").read())
                               for f in sources):
            problem(where, f"{name} has no {sym}")
    if markdown:
        for m in LINK_RE.finditer(text):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(base_dir, path)) if path else where.split(":")[0]
            if path and not exists(full):
                problem(where, f"link to a missing file: {target}")
            elif anchor and full.endswith(".md") and anchor not in {slug(h) for h in heading_list(full)}:
                problem(where, f"link to a missing section: {target}")
        for m in SYM_RE.finditer(text):
            for part in m.group(1).split("::")[1:]:
                if part not in defined:
                    problem(where, f"no item named {part} (in `{m.group(1)}`)")

for md in md_files():
    with open(md, encoding="utf-8") as fh:
        in_code = False
        for n, line in enumerate(fh, 1):
            if line.startswith("```"):
                in_code = not in_code
                continue
            check_text(f"{md}:{n}", line, os.path.dirname(md), markdown=True)

for src in source_files():
    comment = "//" if src.endswith(".rs") else "#"
    with open(src, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            i = line.find(comment)
            if i < 0:
                continue
            if src.endswith(".rs") and ('"' in line[:i]):
                continue  # `//` inside a string literal
            check_text(f"{src}:{n}", line[i:], os.path.dirname(src), markdown=False)

for p in problems:
    print(p)
if problems:
    print(f"{len(problems)} dangling reference(s)", file=sys.stderr)
    sys.exit(1)
print("doc references: all resolve")
