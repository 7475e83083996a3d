#!/usr/bin/env python3
"""Dependency cycles between the core library's source files.

Two graphs over the library's .cpp files:
- calls: A -> B when A.o has an undefined symbol that B.o defines (strong text symbols only;
  inline and template code, defined weakly everywhere, is not a dependency on one file);
- includes: A -> B when file A (.cpp or .h) includes project header B; a cycle here is two
  headers that include each other, directly or through others.
Prints every cycle (strongly connected set of more than one file) and exits 1 if there is any.

Usage: scripts/dev/file_cycles.py BUILD_DIR   (after building the library)
"""
import os, re, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build")
objdir = os.path.join(build, "CMakeFiles", "cwd_bench_core.dir")

objects = {}
for dp, _, fs in os.walk(objdir):
    for f in fs:
        if f.endswith(".cpp.o") and "generated" not in dp:
            rel = os.path.relpath(os.path.join(dp, f[:-2]), objdir)
            if os.path.exists(os.path.join(root, rel)):
                objects[rel] = os.path.join(dp, f)

def symbols(path):
    out = subprocess.run(["nm", "-C", "--defined-only", path], capture_output=True, text=True).stdout
    defined = {l.split(" ", 2)[2] for l in out.splitlines() if re.match(r"^\w+ [TDBR] ", l)}
    out = subprocess.run(["nm", "-C", "-u", path], capture_output=True, text=True).stdout
    undefined = {l.strip()[2:] for l in out.splitlines() if l.strip().startswith("U ")}
    return defined, undefined

defs, uses = {}, {}
for src, obj in objects.items():
    defs[src], uses[src] = symbols(obj)
owner = {}
for src, ds in defs.items():
    for s in ds:
        owner.setdefault(s, src)
calls = {src: {owner[s] for s in uses[src] if s in owner and owner[s] != src} for src in objects}

includes = {}
for d in ("src", "losses", "models"):
    for dp, _, fs in os.walk(os.path.join(root, d)):
        for f in fs:
            if f.endswith((".cpp", ".h")):
                rel = os.path.relpath(os.path.join(dp, f), root)
                text = open(os.path.join(root, rel), encoding="utf-8").read()
                includes[rel] = {i for i in re.findall(r'#include "([^"]+)"', text)
                                 if os.path.exists(os.path.join(root, i)) and i != rel}

def cycles(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index: visit(v)
    return out

bad = 0
for name, graph in (("call", calls), ("include", includes)):
    found = cycles(graph)
    print(f"{name} graph: {len(graph)} files, {sum(len(v) for v in graph.values())} edges, {len(found)} cycles")
    for comp in found:
        bad += 1
        print("  cycle:", " <-> ".join(comp))
        for a in comp:
            print("    ", a, "->", ", ".join(sorted(b for b in graph[a] if b in comp)))
sys.exit(1 if bad else 0)
