#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The shape of user/: each folder says in its README.md what it may use
("May use: base, wire" or "May use: nothing"); this check reads every
#include "..." under user/ and fails when

  - a folder includes a header of a folder its README does not allow,
  - the folders' include graph has a cycle (the top folder, user/ itself, may
    use every folder; no folder may use it),
  - two modules (a .c and its .h) include each other, directly or through
    others (headers without a .c of their own, private to one module, are
    left out).

Prints one line per problem and exits 1, or prints "layers: N folders, N
modules, no cycle" and exits 0.  usage: check_layers.py [ROOT]
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
MAY_USE = re.compile(r"^May use:\s*(.*)$", re.M | re.I)
TOP = "."


def folder_of(path):
    d = os.path.dirname(path)
    return TOP if d == "" else d.split(os.sep)[0]


def read_rules(user, folders):
    rules, problems = {}, []
    for f in folders:
        readme = os.path.join(user, f, "README.md") if f != TOP else os.path.join(user, "README.md")
        try:
            text = open(readme).read()
        except OSError:
            problems.append(f"{readme}: missing (each folder says its job and what it may use)")
            continue
        if f == TOP:
            continue
        m = MAY_USE.search(text)
        if not m:
            problems.append(f"{readme}: no 'May use:' line")
            continue
        names = [x.strip().strip("`").rstrip("/.") for x in m.group(1).split(",")]
        rules[f] = set() if names == ["nothing"] else {x for x in names if x}
        for x in rules[f] - set(folders):
            problems.append(f"{readme}: 'May use' names {x}, which is not a folder of user/")
    return rules, problems


def cycle(graph):
    """One cycle of graph (dict node -> set of nodes) as a list, or None."""
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    user = os.path.relpath(os.path.join(root, "user"))
    files = []
    for d, _, names in os.walk(user):
        for n in names:
            if n.endswith((".c", ".h")):
                files.append(os.path.relpath(os.path.join(d, n), user))
    present = set(files)
    folders = sorted({folder_of(f) for f in files})
    rules, problems = read_rules(user, folders)
    fgraph, mgraph = {f: set() for f in folders}, {}
    has_c = {f[:-2] for f in files if f.endswith(".c")}
    for f in sorted(files):
        src = folder_of(f)
        here = os.path.dirname(f)
        for inc in INCLUDE.findall(open(os.path.join(user, f)).read()):
            if inc.startswith(".."):
                problems.append(f"user/{f}: includes \"{inc}\": name headers from user/ or bpf/ "
                                "(the build passes -Iuser -Ibpf), never by relative path")
                continue
            local = os.path.normpath(os.path.join(here, inc))
            target = local if local in present else inc if inc in present else None
            if target is None:
                continue  # bpf/ ABI headers and generated skeletons
            dst = folder_of(target)
            if dst != src:
                fgraph[src].add(dst)
                if dst == TOP:
                    problems.append(f"user/{f}: includes {inc} from the top folder (entry "
                                    "points): no subsystem may use it")
                elif src != TOP and src in rules and dst not in rules[src]:
                    problems.append(f"user/{f}: includes {inc}, but user/{src}/README.md does "
                                    f"not list {dst} under 'May use'")
            a, b = f[:-2], target[:-2]
            if a != b and a in has_c and b in has_c:
                mgraph.setdefault(a, set()).add(b)
    c = cycle(fgraph)
    if c:
        problems.append("include cycle between folders: " + " -> ".join(
            "user/" if x == TOP else x + "/" for x in c))
    c = cycle(mgraph)
    if c:
        problems.append("include cycle between modules: " + " -> ".join(c))
    for p in problems:
        print("layers: " + p)
    if problems:
        return 1
    print(f"layers: {len(folders)} folders, {len(has_c)} modules, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
