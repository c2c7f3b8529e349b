# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""`memwatch maps -p PID`: every mapping with class, arena and RSS, checked against pmap -X
(procps) and glibc's own arena count on a process holding arenas."""
import json
import os
import subprocess

import mw
from mw import check, eq


def _pmap(pid):
    out = subprocess.run(["pmap", "-X", str(pid)], capture_output=True, text=True,
                         timeout=10).stdout
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if (len(f) < 8 or not all(c in "0123456789abcdef" for c in f[0]) or len(f[1]) != 4
                or not all(c in "rwxsp-" for c in f[1])):
            continue    # the "PID: command" line, the header and the totals
        # Address Perm Offset Device Inode Size Rss ...
        rows[int(f[0], 16)] = (int(f[5]) * 1024, int(f[6]) * 1024, f[1])
    return rows


def test_maps_matches_pmap_and_glibc():
    mw.need_tool("pmap")
    w = mw.workload("arenas", "-t", "3", "-k", ready=False)
    w.wait_line(r"^held", "err", 10)
    p = mw.Proc([mw.need_memwatch(), "maps", "-p", str(w.pid), "--json"], name="memwatch")
    eq(p.wait(15, "memwatch maps"), 0, f"exit status (stderr {mw.tail(p.text('err'))!r})")
    objs = [json.loads(l) for l in p.text("out").splitlines() if l.strip()]
    regions = [o for o in objs if o["type"] == "region"]
    summary = [o for o in objs if o["type"] == "maps_summary"]
    pm = _pmap(w.pid)
    pm = {a: v for a, v in pm.items() if a < 0xffffffffff600000}   # [vsyscall]: not in the mm
    eq(sorted(int(r["start"], 16) for r in regions), sorted(pm), "the same mappings as pmap -X")
    for r in regions:
        size, rss, perm = pm[int(r["start"], 16)]
        eq((r["size"], r["rss"]), (size, rss), f"{r['start']} size/RSS vs pmap -X")
        eq(r["perm"][:3], perm[:3], f"{r['start']} permissions")
    eq(len(summary), 1, "one maps_summary")
    eq(summary[0]["size"], sum(v[0] for v in pm.values()), "total size vs pmap -X")
    arenas = {r["arena"] for r in regions if r["class"] == "arena_heap"}
    eq(len(arenas), 3, "arena ids among arena_heap regions")
    eq(summary[0]["arenas"], 3, "arenas in the summary")
    eq(summary[0]["allocator"], "glibc", "allocator")
    eq(summary[0]["arena_limit"], 8 * os.sysconf("SC_NPROCESSORS_ONLN"), "arena limit (8 x online CPUs)")
    w.close_stdin()
    eq(w.wait(15, "arenas"), 0, "arenas exit status")
    check("glibc_arenas 3" in w.text("out"), f"the workload's own count: {w.text('out')!r}")


def test_maps_arena_limit_from_environment():
    w = mw.Proc(["env", "MALLOC_ARENA_MAX=2", mw.wl("arenas"), "-t", "1", "-k"],
                stdin=subprocess.PIPE, name="arenas")
    w.wait_line(r"^held", "err", 10)
    p = mw.Proc([mw.need_memwatch(), "maps", "-p", str(w.pid), "--json"], name="memwatch")
    eq(p.wait(15, "memwatch maps"), 0, "exit status")
    s = [json.loads(l) for l in p.text("out").splitlines() if '"maps_summary"' in l][0]
    eq((s["arena_limit"], s["arena_limit_source"]), (2, "MALLOC_ARENA_MAX"), "limit")
    w.close_stdin()


def test_maps_bad_input():
    for args, rc in ((["maps"], 2), (["maps", "-p", "abc"], 2), (["maps", "-p", mw.free_pid()], 1)):
        p = mw.Proc([mw.need_memwatch()] + [str(a) for a in args], name="memwatch")
        eq(p.wait(10, "memwatch maps"), rc, f"{args}: exit status")
        mw.one_error_line(p.text("err"), f"{args}")
