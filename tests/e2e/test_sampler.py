# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The in-process sampler (libmemwatch-sampler.so) under memwatch --malloc: known leaks found
and named with their function and line through its probes (a small MEMWATCH_SAMPLE_BYTES, so
every block of the leaks is sampled and the counts are exact), estimates against a workload's
exact counts on a long run, Debian's jemalloc and tcmalloc preloaded after it, C++ new, a
forking program, malloc from a signal handler (on a lock-free allocator, since glibc's is not
async-signal-safe), -p on a service started with the systemd drop-in's environment, a
recording replayed to the same report, and the usage errors."""
import os
import re
import socket
import subprocess
import time

import mw
from mw import check, eq
from test_malloc import (JEMALLOC, LEAKS, SRC, TCMALLOC, find_leak, frames_of, markers,
                         run_mw, summary)

SAMPLER = os.path.join(mw.ROOT, ".output", "libmemwatch-sampler.so")
SMALL = "64"  # bytes: every block of leaks.c (1000 bytes and more) is sampled: p > 1 - 1e-6
# The sampler's ring waits up to 10 s for memwatch when memwatch has not read a whole ring (by
# default 2 ms, once per stall, then samples are dropped and counted): the tests that sample every
# allocation of a tight loop and want every sample read.
WAIT = {"MEMWATCH_SAMPLER_RING_WAIT": "10000000"}


def need_sampler():
    check(os.access(SAMPLER, os.R_OK), f"{SAMPLER} not built (run make sampler)")
    return SAMPLER


def check_sampled_leaks(tr, pid=None, src=os.path.join(SRC, "leaks.c")):
    """leaks.c's eight leaks, exact (every block sampled), named with function and line, and
    labelled as estimates; no probe of the sampler's own in any stack."""
    lines = markers(src)
    for name, (n, size) in LEAKS.items():
        leak = find_leak(tr, f"leak_{name}", pid)
        eq((leak["count"], leak["bytes"]), (n, n * size), f"leak_{name}: count, bytes")
        top = leak["stack"][0]
        eq((top.get("func"), top.get("line")), (f"leak_{name}", lines[name]),
           f"leak_{name}: first frame")
        check(top.get("file", "").endswith("leaks.c"), f"leak_{name}: file {top.get('file')!r}")
        check(leak["estimated"] is True, f"leak_{name}: not labelled as an estimate")
    for e in tr.of("leak"):
        mods = [f.get("module", "") for f in e["stack"]]
        check(not any("libmemwatch-sampler" in m for m in mods), f"sampler frames in {mods}")


def sampler_summary(tr, pid=None, mean=SMALL, path="ring"):
    s = summary(tr, pid)
    check(s["allocator"].endswith("libmemwatch-sampler.so"), f"allocator {s['allocator']!r}")
    eq(s["sampling"], f"sampler bytes {mean}", "sampling")
    eq(s.get("sampler_path"), path, "the sampler's path")
    check(s["calls"] is None and s["bytes"] is None, f"calls counted: {s['calls']}")
    eq(s["estimated"], True, "estimated")
    return s


def test_sampler_leaks_glibc():
    """--sampler preloads it: leaks.c's leaks found through its probes, exact, with file:line;
    every allocation of the churn sampled too (weights ~1), none left outstanding."""
    need_sampler()
    rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--", mw.wl("leaks"), "-r", "300"],
                            env={"MEMWATCH_SAMPLE_BYTES": SMALL})
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    check_sampled_leaks(tr)
    s = sampler_summary(tr)
    eq(s["outstanding_count"], sum(n for n, _ in LEAKS.values()), "outstanding blocks")
    eq(s["outstanding_bytes"], sum(n * b for n, b in LEAKS.values()), "outstanding bytes")
    eq((s["unknown_frees"], s["dropped"], s["not_tracked"]), (0, 0, 0), "unknown, dropped, full")
    check(not [e for e in tr.of("leak") if "churn" in frames_of(e)], "churn left leaks")


def ring_counts(err):
    """The sampler's own counts, as sampler_frees prints them."""
    m = re.search(r"sampler_frees: kept \d+ dropped \d+ alloc_fired (-?\d+) free_fired (-?\d+)",
                  err)
    check(m, f"no counts from the workload: {mw.tail(err)!r}")
    r = re.search(r"sampler_frees: ring state (\d+) samples (\d+) busy (\d+) full (\d+) "
                  r"waited (\d+) fired (\d+) slots (\d+)", err)
    keys = ("state", "samples", "busy", "full", "waited", "fired", "slots")
    # No ring line: a library without the ring's symbol (its counts are then all 0).
    return dict(zip(("alloc_fired", "free_fired"), map(int, m.groups())),
                **dict(zip(keys, map(int, r.groups()) if r else [0] * len(keys))))


def test_sampler_frees_from_table():
    """A sample fires no probe: memwatch attaches mwsampler:ring only, reads the samples from
    the sampler's ring and the frees of sampled blocks from its table before each report. The
    sampler's own counts: no alloc or free probe fired, every block written to its ring (as many
    as memwatch traced); blocks freed between two reports are outstanding in the report before
    and gone from every report after (no leak), the kept ones are the leaks."""
    need_sampler()
    n, size = 50, 4096
    rc, tr, err, _ = run_mw(["--malloc", "--sampler", "-i", "1", "--", mw.wl("sampler_frees"),
                             "-n", n, "-s", size, "-p", 2000],
                            env={"MEMWATCH_SAMPLE_BYTES": SMALL}, timeout=60)
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    c = ring_counts(err)
    s = sampler_summary(tr)
    eq((c["alloc_fired"], c["free_fired"]), (0, 0), "alloc and free probe hits")
    eq((c["samples"], s["traced"]), (2 * n, 2 * n), "ring samples, traced by memwatch")
    reports = sorted({e["ts_ns"] for e in tr.of("malloc_summary")})
    check(len(reports) >= 3, f"{len(reports)} reports, want one before the frees and two after")

    def rows(ts, func):
        return [(e["count"], e["bytes"]) for e in tr.of("leak")
                if e["ts_ns"] == ts and func in frames_of(e)]
    before = [ts for ts in reports if rows(ts, "drop_blocks")]
    check(before, "drop_blocks never outstanding: the test saw no report before its frees")
    eq(rows(before[0], "drop_blocks"), [(n, n * size)], "drop_blocks before its frees")
    after = [ts for ts in reports if ts > before[-1]]
    check(after, "no report after the frees")
    for ts in after:
        eq(rows(ts, "drop_blocks"), [], f"drop_blocks after its frees (report {ts})")
        eq(rows(ts, "keep_blocks"), [(n, n * size)], f"keep_blocks (report {ts})")
    eq(find_leak(mw.Trace([e for e in tr.of("leak") if e["ts_ns"] == reports[-1]]),
                 "keep_blocks")["count"], n, "leaks at exit")
    eq((s["outstanding_count"], s["outstanding_bytes"]), (n, n * size), "outstanding at exit")
    eq((s["unknown_frees"], s["dropped"], s["not_tracked"]), (0, 0, 0), "unknown, dropped, full")


test_sampler_frees_from_table.timeout = 60


def test_sampler_without_table():
    """A sampler that does not export its table (an older build; here a copy of the library with
    the symbol renamed): memwatch cannot read its frees, so it attaches the free probe too, as
    before: a probe hit at each sampled block's free, and the leaks exact all the same."""
    need_sampler()
    data = open(SAMPLER, "rb").read()
    check(data.count(b"mwsampler_table\0") >= 1, "the library exports no mwsampler_table")
    lib = mw.tmpfile("libmemwatch-sampler.so")
    with open(lib, "wb") as f:
        f.write(data.replace(b"mwsampler_table\0", b"mwsampler_tablX\0"))
    n = 50
    rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--", mw.wl("sampler_frees"), "-n", n,
                             "-p", 0],
                            env={"MEMWATCH_SAMPLE_BYTES": SMALL, "MEMWATCH_SAMPLER": lib},
                            timeout=60)
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    m = re.search(r"alloc_fired (\d+) free_fired (\d+)", err)
    check(m, f"no counts from the workload: {mw.tail(err)!r}")
    eq((int(m.group(1)), int(m.group(2))), (2 * n, n), "alloc and free probe hits")
    eq(summary(tr)["sampler_path"], "probe", "the sampler's path")
    eq(find_leak(tr, "keep_blocks")["count"], n, "keep_blocks leaks")
    check(not [e for e in tr.of("leak") if "drop_blocks" in frames_of(e)], "freed blocks leaked")


def test_sampler_ring_path():
    """The probe-free path, and the probe path of a sampler without a ring: -v and the summary
    say which; through the ring no probe fires (the sampler's own counts: no alloc probe hit,
    every sample in its ring), through the probe (a copy of the library without the ring's
    symbol, as an older build) every sample fires mwsampler:alloc; the leaks are the same,
    exact and named with function and line, either way."""
    need_sampler()
    noring = mw.tmpfile("libmemwatch-sampler.so")
    with open(SAMPLER, "rb") as f, open(noring, "wb") as g:
        data = f.read()
        check(data.count(b"mwsampler_ring\0") >= 1, "the library exports no mwsampler_ring")
        g.write(data.replace(b"mwsampler_ring\0", b"mwsampler_rinX\0"))
    n = 40
    for lib, path in ((SAMPLER, "ring"), (noring, "probe")):
        rc, tr, err, _ = run_mw(["-v", "--malloc", "--sampler", "--", mw.wl("sampler_frees"),
                                 "-n", n, "-p", 0],
                                env={"MEMWATCH_SAMPLE_BYTES": SMALL, "MEMWATCH_SAMPLER": lib},
                                timeout=60)
        eq(rc, 0, f"{path}: exit status (stderr {mw.tail(err)!r})")
        c = ring_counts(err)
        s = sampler_summary(tr, path=path)
        want = ("read from its ring (no probe per sample)" if path == "ring"
                else "reported through its probe (a trap per sample)")
        check(want in err, f"{path}: -v does not say {want!r}: {mw.tail(err)!r}")
        hits, ring = (0, 2 * n) if path == "ring" else (2 * n, 0)
        eq((c["alloc_fired"], c["free_fired"], c["samples"], s["traced"]), (hits, 0, ring, 2 * n),
           f"{path}: alloc and free probe hits, ring samples, traced")
        eq((s["dropped"], s["not_tracked"]), (0, 0), f"{path}: dropped, not tracked")
        leak = find_leak(tr, "keep_blocks")
        eq((leak["count"], leak["bytes"]), (n, n * 4096), f"{path}: keep_blocks")
        eq(leak["stack"][0].get("line"),
           markers(os.path.join(SRC, "sampler_frees.c")).get("keep"), f"{path}: keep's line")
        check(not [e for e in tr.of("leak") if "drop_blocks" in frames_of(e)],
              f"{path}: freed blocks leaked")


def test_sampler_ring_overflow():
    """A ring of 4 slots (MEMWATCH_SAMPLER_RING) under a burst of 3000 samples never freed, the
    sampler told not to wait for memwatch (MEMWATCH_SAMPLER_RING_WAIT=0): most samples find the
    ring full of records memwatch has not read yet and are dropped, never written over a record
    not read. memwatch's dropped count is exactly the sampler's (full, or a busy slot), every
    other sample is read (a block outstanding: weight 1 at a mean of 1 byte), and the estimates
    still count all of them. Told to wait up to 10 s, the same burst loses nothing: the sampler
    waits for memwatch to read."""
    need_sampler()
    n = 3000
    for wait in ("0", WAIT["MEMWATCH_SAMPLER_RING_WAIT"]):
        env = {"MEMWATCH_SAMPLE_BYTES": "1", "MEMWATCH_SAMPLER_RING": "4",
               "MEMWATCH_SAMPLER_RING_WAIT": wait}
        rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--", mw.wl("sampler_frees"), "-n", n,
                                 "-d", 0, "-s", 64, "-p", 0], env=env, timeout=60)
        eq(rc, 0, f"wait {wait}: exit status (stderr {mw.tail(err)!r})")
        c = ring_counts(err)
        s = sampler_summary(tr, mean="1")
        eq((c["slots"], c["alloc_fired"]), (4, 0), "ring slots, alloc probe hits")
        eq(s["traced"], c["samples"] + c["full"], "traced: the sampler's samples")
        eq(s["dropped"], c["full"] + c["busy"], f"wait {wait}: dropped, the sampler's drops {c}")
        eq(s["outstanding_count"] + s["dropped"], c["samples"] + c["full"],
           "samples read + dropped")
        eq(s["estimated_count"], c["samples"] + c["full"], "estimated count (the sampler's sums)")
        keep = find_leak(tr, "keep_blocks")
        if wait == "0":
            check(c["full"] > n / 2 and c["waited"] == 0, f"no wait, most dropped: {c}")
        else:
            check(c["waited"] > 0, f"the sampler never waited: {c}")
            eq((c["full"], s["dropped"], keep["count"]), (0, 0, n), "waited: nothing lost")


def test_sampler_no_reader():
    """Preloaded with nothing attached, the sampler keeps nothing and maps no ring: its probes
    and ring stay untouched (the countdown is all it costs)."""
    need_sampler()
    p = subprocess.run([mw.wl("sampler_frees"), "-n", "200", "-p", "0"], capture_output=True,
                       text=True, timeout=30,
                       env=dict(os.environ, LD_PRELOAD=SAMPLER, MEMWATCH_SAMPLE_BYTES=SMALL))
    eq(p.returncode, 0, f"exit status (stderr {mw.tail(p.stderr)!r})")
    c = ring_counts(p.stderr)
    check(c["slots"] == 1024, f"no ring in the library: {c}")
    eq((c["state"], c["samples"], c["fired"], c["alloc_fired"], c["free_fired"]),
       (0, 0, 0, 0, 0), "ring state, samples, ring/alloc/free probe hits")


def _preloaded(lib, name):
    mw.skip_under_asan("preloads another allocator into memwatch, which ASan must come first in")
    check(os.path.exists(lib), f"{lib} not installed (tools/deps.sh installs it)")
    need_sampler()
    rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--", mw.wl("leaks"), "-r", "200"],
                            env={"MEMWATCH_SAMPLE_BYTES": SMALL, "LD_PRELOAD": lib})
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    check_sampled_leaks(tr)
    pid = sampler_summary(tr)["pid"]
    # The blocks came from the allocator preloaded after the sampler, not from glibc's.
    al = tr.of("allocator", pid=pid)
    check(al and al[-1].get("allocator") == name, f"allocator objects {al}")
    eq(tr.of("arena_create", pid=pid), [], "glibc arenas")


def test_sampler_jemalloc():
    """LD_PRELOAD=jemalloc: --sampler puts itself first and forwards to jemalloc."""
    _preloaded(JEMALLOC, "jemalloc")


def test_sampler_tcmalloc():
    """LD_PRELOAD=tcmalloc: --sampler puts itself first and forwards to tcmalloc."""
    _preloaded(TCMALLOC, "tcmalloc")


def test_sampler_cxx():
    """C++ new and new[] reach the sampler through libstdc++'s operator new: the leaks are
    named by the user's function and line (the sampler's and operator new's frames dropped)."""
    need_sampler()
    src = os.path.join(SRC, "leaks_cxx.cc")
    exe = mw.tmpfile("leaks_cxx")
    rc, _, err = mw.run([mw.need_tool("g++"), "-O1", "-g", src, "-o", exe], timeout=60)
    eq(rc, 0, f"g++ leaks_cxx.cc (stderr {mw.tail(err)!r})")
    rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--", exe, "50"],
                            env={"MEMWATCH_SAMPLE_BYTES": "16"})
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    lines = markers(src)
    for func, key, n, size in (("leak_new_obj", "new", 8, 200),
                               ("leak_new_array", "new_array", 9, 123)):
        leak = find_leak(tr, func)
        eq((leak["count"], leak["bytes"]), (n, n * size), f"{func}: count, bytes")
        top = leak["stack"][0]
        check(top.get("func", "").startswith(func), f"{func}: first frame {top}")
        eq(top.get("line"), lines[key], f"{func}: line")
    sampler_summary(tr, mean="16")


def test_sampler_fork():
    """A program that forks: the children inherit the sampler's table and countdowns, free the
    parent's sampled blocks in their copy, allocate and exit; they run correctly and nothing of
    theirs reaches the parent's report (15 x 4000 outstanding, named)."""
    need_sampler()
    rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--", mw.wl("fork_leaks"), "-k", "6"],
                            env={"MEMWATCH_SAMPLE_BYTES": SMALL})
    eq(rc, 0, f"exit status (children checked by the workload; stderr {mw.tail(err)!r})")
    check("fork_leaks: children 6 ok" in err, f"workload: {mw.tail(err)!r}")
    parent = [s for s in tr.of("malloc_summary") if s["comm"] == "fork_leaks"]
    eq(len({s["pid"] for s in parent}), 1, "processes with allocation reports")
    pid = parent[0]["pid"]
    leak = find_leak(tr, "leak_parent", pid)
    line = markers(os.path.join(SRC, "fork_leaks.c"))["parent"]
    eq((leak["count"], leak["bytes"], leak["stack"][0].get("line")), (15, 60000, line),
       "leak_parent: count, bytes, line")
    check(not [e for e in tr.of("leak") if "child_leak" in frames_of(e)],
          "a child's leak in the report")


def test_sampler_signal_handler():
    """malloc and free from a signal handler that interrupts the main thread anywhere in its
    malloc+free loop (the sampler's countdown, table and probe included), every allocation
    sampled, on a lock-free allocator preloaded after the sampler: no crash, no hang, and
    both leaks exact (the handler's kept blocks, counted by the program)."""
    mw.skip_under_asan("preloads another allocator into memwatch, which ASan must come first in")
    need_sampler()
    so = mw.tmpfile("bump_alloc.so")
    rc, _, err = mw.run([mw.need_tool("gcc"), "-shared", "-fPIC", "-O2",
                         os.path.join(SRC, "lib", "bump_alloc.c"), "-o", so], timeout=60)
    eq(rc, 0, f"gcc bump_alloc.so: {mw.tail(err)}")
    # Every allocation sampled: a short run and a short stack copy (the frames wanted are the
    # innermost ones) fit in the ring unless memwatch falls far behind on a busy machine; a
    # run that lost records (counted as dropped) cannot be exact and is tried again, up to
    # three times; so is one whose signal sender was starved by other load (the kernel
    # merges a pending SIGUSR1 with the next).
    for attempt in range(3):
        rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--stack-bytes", "1024", "--",
                                 mw.wl("sig_malloc"), "-t", "600"],
                                env={"MEMWATCH_SAMPLE_BYTES": "1", "LD_PRELOAD": so, **WAIT},
                                timeout=60)
        eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
        s = sampler_summary(tr, mean="1")
        m = re.search(r"sig_malloc: signals (\d+) kept (\d+) pairs (\d+)", err)
        check(m, f"no result line: {mw.tail(err)!r}")
        nsig, kept = int(m.group(1)), int(m.group(2))
        if not s["dropped"] and nsig >= 100 and kept >= 10:
            break
    eq((s["dropped"], s["not_tracked"]), (0, 0), "dropped, not tracked")
    check(nsig >= 100 and kept >= 10, f"too few signals to mean anything: {m.group(0)}")
    lines = markers(os.path.join(SRC, "sig_malloc.c"))
    # One stack per place the signal interrupted: the handler's blocks add up over them.
    rows = [e for e in tr.of("leak") if e["stack"] and e["stack"][0].get("func") == "handler_alloc"]
    eq((sum(e["count"] for e in rows), sum(e["bytes"] for e in rows)), (kept, kept * 1500),
       "handler_alloc: count, bytes")
    eq({e["stack"][0].get("line") for e in rows}, {lines["handler"]}, "handler_alloc: line")
    check(all("on_usr1" in frames_of(e) for e in rows), "the handler's frame")
    m2 = find_leak(tr, "leak_main")
    eq((m2["count"], m2["bytes"]), (100, 300000), "leak_main: count, bytes")


def _mix_exact(err):
    exact = {}
    for m in re.finditer(r"^sampled_mix: (\w+) bytes (\d+) count (\d+)$", err, re.M):
        exact[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    check(len(exact) == 5, f"sampled_mix printed {exact}")
    return exact


def test_sampler_estimates():
    """A long run (800 MB allocated, 60 MB kept from four call sites of 48 B to 1 MiB blocks)
    sampled at a mean of 8 KiB: each site's estimated outstanding bytes and the estimated bytes
    allocated within 10% of the workload's exact numbers; only a small share traced."""
    need_sampler()
    # ~100k samples: a short stack copy (the frames wanted are the innermost two) keeps the
    # ring from filling on a busy machine; the allocated total is the kernel's sum either way.
    rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--stack-bytes", "1024", "--",
                             mw.wl("sampled_mix")],
                            env={"MEMWATCH_SAMPLE_BYTES": "8K", **WAIT}, timeout=120)
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    exact = _mix_exact(err)
    s = sampler_summary(tr, mean="8192")
    eq(s["dropped"], 0, "records lost (the per-site estimates would miss them)")
    total_b, total_n = exact.pop("allocated")
    check(abs(s["estimated_bytes"] - total_b) <= 0.10 * total_b,
          f"estimated_bytes {s['estimated_bytes']} vs exact {total_b}")
    # About one sample per 8 KiB: a fraction of the 730k allocations.
    check(0 < s["traced"] < total_n / 4, f"traced {s['traced']} of {total_n}")
    for site, (b, n) in exact.items():
        rows = [e for e in tr.of("leak") if site in frames_of(e)]
        eq(len(rows), 1, f"{site}: leak objects")
        got = rows[0]["bytes"]
        check(abs(got - b) <= 0.10 * b, f"{site}: estimated {got} vs exact {b} bytes")
        check(rows[0]["estimated"] is True, f"{site}: not labelled")


test_sampler_estimates.timeout = 150


def test_sampler_attach_service():
    """-p, without --sampler, on a process started as the systemd drop-in starts a service
    (its Environment= lines, from a make install into a DESTDIR): memwatch finds the sampler
    mapped and uses its probes; with --hold-exit the leaks made after the attach are exact (the
    sampler's table read at the exit() hold). Without the hold the process is gone when its
    last report reads the table: the frees since the previous read are unknown, so the same
    blocks are reported as of unknown fate, none as a leak."""
    need_sampler()
    dest = mw.tmpdir()
    rc, out, err = mw.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr/local"],
                          timeout=120)
    eq(rc, 0, f"make install: {mw.tail(out + err)}")
    dropin = os.path.join(dest, "usr/local/share/doc/memwatch/memwatch-sampler.conf")
    env = dict(os.environ)
    for line in open(dropin):
        m = re.match(r"Environment=(\w+)=(.*)$", line.strip())
        if m:
            env[m.group(1)] = m.group(2)
    lib = env.get("LD_PRELOAD", "")
    check(lib == "/usr/local/lib/memwatch/libmemwatch-sampler.so", f"drop-in LD_PRELOAD {lib!r}")
    env["LD_PRELOAD"] = dest + lib  # installed into DESTDIR, not the system
    check(os.path.exists(env["LD_PRELOAD"]), "the library was not installed")
    env["MEMWATCH_SAMPLE_BYTES"] = SMALL
    env.update(WAIT)
    for hold in (True, False):
        w = mw.Proc([mw.wl("leaks"), "-w", "-r", "100"], stdin=subprocess.PIPE, env=env,
                    name="leaks")
        w.wait_line(r"^ready (\d+)$")
        out = mw.tmpfile("mw.json")
        m = mw.attach([w.pid], "--json", "--malloc", *(["--hold-exit"] if hold else []),
                      out=out)
        w.send()
        w.wait_line(r"^done ")
        eq(w.wait(30, "leaks"), 0, "leaks exit status")
        eq(mw.finish(m, 30), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
        tr = mw.read_ndjson(out)
        if hold:
            check_sampled_leaks(tr, w.pid)
        else:
            check(not [e for e in tr.of("leak") if any(f.startswith("leak_")
                                                        for f in frames_of(e) if f)],
                  "leaks reported from a table that could not be read")
            check_sampled_leaks(mw.Trace([dict(e, type="leak") for e in tr.of("fate_unknown")]),
                                w.pid)
        s = sampler_summary(tr, w.pid)
        check(s["allocator"].startswith(dest) or s["allocator"] == env["LD_PRELOAD"],
              f"allocator {s['allocator']!r}")


def test_sampler_replay():
    """--record of a sampler run replays (no root, no process) to the same leaks and
    estimates: the weights are in the recording."""
    need_sampler()
    rec = mw.tmpfile("run.rec")
    rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--record", rec, "--",
                             mw.wl("sampled_mix"), "-s", "1"],
                            env={"MEMWATCH_SAMPLE_BYTES": "64K"}, timeout=120)
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    out = mw.tmpfile("replay.json")
    rc, _, err = mw.run([mw.need_memwatch(), "--json", "-o", out, "--replay", rec])
    eq(rc, 0, f"replay: {mw.tail(err)}")
    rt = mw.read_ndjson(out)

    def key(t):
        return sorted((e["pid"], e["bytes"], e["count"], tuple(frames_of(e)))
                      for e in t.of("leak"))
    eq(key(rt), key(tr), "leaks of the replay")
    a, b = summary(tr), summary(rt)
    eq((b["estimated_bytes"], b["sampling"], b["calls"]),
       (a["estimated_bytes"], a["sampling"], None), "summary of the replay")


test_sampler_replay.timeout = 150


def test_sampler_errors():
    """Usage: --sampler needs --malloc, excludes memwatch's own sampling, cannot replay; a
    library that is not there is one line and no run; -p --sampler on a process without it
    says so and leaves it without allocation probes."""
    need_sampler()
    mwb = mw.need_memwatch()
    for args, want in ((["--sampler", "--", "true"], "need --malloc"),
                       (["--malloc", "--sampler", "--sample-bytes", "4096", "--", "true"],
                        "--sample-bytes"),
                       (["--sampler", "--replay", "/dev/null"], "--replay")):
        rc, _, err = mw.run([mwb] + args)
        check(rc != 0, f"{args}: exit status 0")
        line = mw.one_error_line(err, str(args))
        check(want in line, f"{args}: {line!r}")
    p = mw.Proc([mwb, "--malloc", "--sampler", "--", "true"],
                env=dict(os.environ, MEMWATCH_SAMPLER="/nonexistent/libmemwatch-sampler.so"))
    rc = p.wait(30)
    check(rc != 0, "a missing library: exit status 0")
    line = mw.one_error_line(p.text("err"), "missing library")
    check("libmemwatch-sampler.so not found" in line, line)
    w = mw.workload("leaks", "-w", "-r", "10")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", "--malloc", "--sampler", out=out)
    w.send()
    eq(w.wait(30, "leaks"), 0, "leaks exit status")
    eq(mw.finish(m, 30), 0, "memwatch exit status")
    check("libmemwatch-sampler.so is not loaded" in m.text("err"), mw.tail(m.text("err")))
    tr = mw.read_ndjson(out)
    check(not tr.of("leak") and tr.process(w.pid), "allocation probes without the sampler")



def test_sampler_redis():
    """-p on a real server started with the sampler: Debian's redis-server (on jemalloc), which
    writes its title over its environment, so memwatch reads the sampler's mean and its place
    in the symbol order from the sampler's memory. 100 values of 50000 bytes SET after the
    attach: their blocks come out under redis's own functions, within 10% (nearly all sampled
    at a mean of 1 KiB)."""
    need_sampler()
    server = mw.need_tool("redis-server")
    port = mw.free_port()
    env = dict(os.environ, LD_PRELOAD=SAMPLER, MEMWATCH_SAMPLE_BYTES="1K")
    r = mw.Proc([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no"], env=env, name="redis-server")
    r.wait_line(r"Ready to accept connections", stream="out", timeout=20)
    with open(f"/proc/{r.pid}/environ", "rb") as f:
        check(b"MEMWATCH_SAMPLE_BYTES=1K" not in f.read(),
              "redis-server kept its environment: this test no longer shows the fallback")
    out = mw.tmpfile("mw.json")
    m = mw.attach([r.pid], "--json", "--malloc", out=out)
    value = b"v" * 50000
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for i in range(100):
            key = b"key%d" % i
            s.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                      % (len(key), key, len(value), value))
            reply = b""
            while not reply.endswith(b"\r\n"):
                reply += s.recv(64)
            eq(reply, b"+OK\r\n", f"SET {key!r}")
    time.sleep(0.5)
    mw.interrupt(m)
    tr = mw.read_ndjson(out)
    s = sampler_summary(tr, r.pid, mean="1024")
    check(s["allocator"].endswith("libmemwatch-sampler.so"), s["allocator"])
    rows = [e for e in tr.of("leak") if "processMultibulkBuffer" in frames_of(e)]
    got = sum(e["bytes"] for e in rows)
    check(abs(got - 100 * 50000) <= 0.10 * 100 * 50000,
          f"values' blocks: {got} bytes; leaks {[(e['bytes'], frames_of(e)[:3]) for e in rows]}")


def test_sampler_bypassed():
    """The sampler preloaded after another malloc (jemalloc first in LD_PRELOAD) never sees a
    call: memwatch -p says so and uses the uprobes on jemalloc, whose counts are exact."""
    need_sampler()
    check(os.path.exists(JEMALLOC), f"{JEMALLOC} not installed (tools/deps.sh installs it)")
    env = dict(os.environ, LD_PRELOAD=f"{JEMALLOC}:{SAMPLER}")
    w = mw.Proc([mw.wl("leaks"), "-w", "-r", "100"], stdin=subprocess.PIPE, env=env,
                name="leaks")
    w.wait_line(r"^ready (\d+)$")
    out = mw.tmpfile("mw.json")
    # Every call traced: -p gets an overhead budget by default, which would count a part.
    m = mw.attach([w.pid], "--json", "--malloc", "--max-overhead", "0", out=out)
    w.send()
    eq(w.wait(30, "leaks"), 0, "leaks exit status")
    eq(mw.finish(m, 30), 0, "memwatch exit status")
    check("comes after another malloc" in m.text("err"), mw.tail(m.text("err")))
    tr = mw.read_ndjson(out)
    s = summary(tr, w.pid)
    eq((s["allocator"], s["sampling"]), (JEMALLOC, "off"), "allocator, sampling")
    eq(s["calls"].get("valloc"), 17, "valloc calls (exact: uprobes)")


def test_sampler_duty_cycle():
    """--duty detaches and re-attaches the sampler's probes (its semaphores fall and rise):
    the run goes on, samples come only while attached, the leaks (made in the first window,
    before a detached window: their fate is unknown, a free then would not have been seen) are
    reported exactly as blocks of unknown fate, not as leaks, and the churn leaves no false leak
    behind."""
    need_sampler()
    rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--duty", "0.5,1", "--",
                             mw.wl("leaks"), "-t", "3000"],
                            env={"MEMWATCH_SAMPLE_BYTES": SMALL, **WAIT}, timeout=60)
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    rounds = int(re.search(r"rounds (\d+)", err).group(1))
    check(not [e for e in tr.of("leak") if any(f.startswith("leak_") for f in frames_of(e)
                                                if f)], "blocks of unknown fate as leaks")
    check_sampled_leaks(mw.Trace([dict(e, type="leak") for e in tr.of("fate_unknown")]))
    s = sampler_summary(tr)
    b = tr.of("malloc_budget")[-1]
    eq(b["fate_unknown_count"], sum(n for n, _ in LEAKS.values()), "blocks of unknown fate")
    eq(b["budget_pct"], 0, "a budget for the sampler's probes")
    # Every churn round allocates: far fewer samples than allocations when detached half the time.
    check(0 < s["traced"] < rounds, f"traced {s['traced']} of more than {rounds} allocations")
    check(not [e for e in tr.of("leak") if "churn" in frames_of(e)], "churn left leaks")


test_sampler_duty_cycle.timeout = 90


def test_sampler_pprof():
    """--pprof through the sampler, read by go tool pprof: each leak's inuse_space is its
    weighted estimate (exact here: every block sampled), and the profile's comments say the
    values are the sampler's estimates."""
    need_sampler()
    from test_pprof import check_leak_rows, go_pprof
    prof = mw.tmpfile("heap.pb.gz")
    rc, tr, err, _ = run_mw(["--malloc", "--sampler", "--pprof", prof, "--", mw.wl("leaks"),
                             "-r", "50"], env={"MEMWATCH_SAMPLE_BYTES": SMALL})
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    check_leak_rows(go_pprof("-top", "-unit=B", "-sample_index=inuse_space", prof),
                    "inuse_space")
    comments = go_pprof("-comments", prof)
    pid = sampler_summary(tr)["pid"]
    check(f"pid {pid}: estimates: in-process sampler, one sample per {SMALL} bytes" in comments,
          f"comments: {comments!r}")


test_sampler_pprof.timeout = 150


def test_sampler_comm():
    """--comm (as the daemon follows services): a process started later with the sampler is
    adopted at its exec and gets the sampler's probes, found through its LD_PRELOAD (its
    libraries are not mapped yet); the blocks it keeps once memwatch has said so are reported
    while it waits."""
    need_sampler()
    exe = mw.tmpfile("mwsmix")  # a name of its own: other runs may match sampled_mix
    with open(mw.wl("sampled_mix"), "rb") as src, open(exe, "wb") as dst:
        dst.write(src.read())
    os.chmod(exe, 0o755)
    out = mw.tmpfile("mw.json")
    m = mw.memwatch("--json", "--malloc", "-o", out, "--comm", "^mwsmix$")
    mw.wait_tracing(m)
    env = dict(os.environ, LD_PRELOAD=SAMPLER, MEMWATCH_SAMPLE_BYTES="4K")
    w = mw.Proc([exe, "-w", "-W", "-c", "0"], stdin=subprocess.PIPE, env=env, name="mwsmix")
    w.wait_line(r"^ready (\d+)$")
    m.wait_line(rf"pid {w.pid} \(mwsmix\) attached", timeout=30)
    w.send()
    w.wait_line(r"^done (\d+)$", timeout=60)
    mw.interrupt(m)
    w.send()
    eq(w.wait(30, "mwsmix"), 0, "exit status")
    tr = mw.read_ndjson(out)
    s = sampler_summary(tr, w.pid, mean="4096")
    check(s["traced"] > 0, f"no sample: {s}")
    huge = [e for e in tr.of("leak", pid=w.pid) if "keep_huge" in frames_of(e)]
    eq([(e["count"], e["bytes"]) for e in huge], [(8, 8 << 20)], "keep_huge's blocks")
