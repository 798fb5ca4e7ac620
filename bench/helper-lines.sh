#!/bin/bash
# helper-lines.sh: what the set-id drop helper (outboxdrop) is built from — its own
# sources plus every target it links, found from Package.swift (swift package describe) —
# in lines of code: non-blank lines that are not only a comment, Swift and C alike
# (headers included). Issue 11's budget is 1000. Also prints every target's size.
set -euo pipefail
cd "$(dirname "$0")/.."
${SWIFT:-swift} package describe --type json 2>/dev/null | python3 -c '
import json, os, re, sys
targets = {t["name"]: t for t in json.load(sys.stdin)["targets"]}
def code_lines(path):
    n = 0
    for line in open(path, encoding="utf-8", errors="replace"):
        s = line.strip()
        if s and not s.startswith("//") and not s.startswith("/*") and not s.startswith("*"):
            n += 1
    return n
def size(name):
    root = targets[name]["path"]
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith((".swift", ".c", ".h"))]
    return sum(code_lines(f) for f in files), len(files)
def closure(name, seen):
    for dep in targets[name].get("target_dependencies") or []:
        if dep not in seen:
            seen.append(dep)
            closure(dep, seen)
    return seen
linked = closure("outboxdrop", [])
total = 0
print("outboxdrop is built from (lines of code, files):")
for name in ["outboxdrop"] + linked:
    lines, files = size(name)
    total += lines
    print(f"  {name:<14} {lines:5d}  {files:3d}")
print("  %-14s %5d   (budget 1000)" % ("total", total))
print("every target (lines of code):", ", ".join(f"{n} {size(n)[0]}" for n in sorted(targets) if not targets[n]["type"] == "test"))
'
