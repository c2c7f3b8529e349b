# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Resident memory and page faults, against the traced process's own word: toucher's named
threads make known amounts resident (thread i writes every page of i x 8 MiB it mapped), and
the process reads its /proc/self/status just before it exits (or waits, still alive). Each
thread's faulted bytes are within 10% of what it touched; rss_end is within 5% of the VmRSS it
read (equal to /proc at the same moment while it lives); rss_start is the baseline's."""
import re
import time

import mw
from mw import check, eq

MIB = 8
THREADS = 3


def status_line(err):
    """toucher's 'status VmRSS RssAnon RssFile RssShmem' line (bytes)."""
    m = re.search(r"^status (\d+) (\d+) (\d+) (\d+)$", err, re.M)
    check(m, f"toucher printed no status line: {mw.tail(err)!r}")
    return dict(zip(("rss", "anon", "file", "shmem"), (int(v) for v in m.groups())))


def within(got, want, frac, what):
    check(isinstance(got, int), f"{what}: expected a number, got {got!r}")
    check(abs(got - want) <= frac * want,
          f"{what}: {got} is not within {frac:.0%} of {want} ({got - want:+d} bytes)")


def check_faulted(trace, pid):
    for i in range(1, THREADS + 1):
        t = trace.thread(f"touch-{i}", pid)
        within(t.get("faulted"), i * MIB << 20, 0.10, f"touch-{i}: faulted")
        check(t.get("faults", 0) >= i * MIB * 256,
              f"touch-{i}: {t.get('faults')} faults for {i * MIB * 256} pages touched")


def check_parts(p, what):
    eq(p.get("rss_end"), p.get("rss_anon", 0) + p.get("rss_file", 0) + p.get("rss_shmem", 0),
       f"{what}: rss_end = rss_anon + rss_file + rss_shmem")


def test_resident_at_exit_and_faults_per_thread():
    rc, trace, err = mw.launch_json("--", mw.wl("toucher"), "-n", THREADS, "-m", MIB)
    eq(rc, 0, f"memwatch exit status (stderr {mw.tail(err)!r})")
    st = status_line(err)
    pids = [e["pid"] for e in trace.of("process_summary")]
    eq(len(pids), 1, "process summaries")
    p = trace.process(pids[0])
    check_parts(p, "at exit")
    # The process is gone: the kernel's counters as it ended (their shared counts, rss_slack).
    within(p.get("rss_end"), st["rss"], 0.05, "rss_end against the VmRSS it read before exit")
    within(p.get("rss_anon"), st["anon"], 0.05, "rss_anon against its RssAnon")
    check(p.get("rss_start", 1 << 62) < st["rss"] // 4,
          f"rss_start {p.get('rss_start')} is the image's before the threads ran (VmRSS "
          f"{st['rss']} at the end)")
    check_faulted(trace, pids[0])


def test_resident_attached_equals_proc():
    w = mw.workload("toucher", "-w", "-W", "-n", THREADS, "-m", MIB)
    try:
        out = mw.tmpfile("resident.ndjson")
        m = mw.attach([w.pid], "--json", "-i", "0.5", out=out)
        w.send()
        w.wait_line(r"^done \d+$")
        st = status_line(w.text("err"))
        time.sleep(1.2)  # an interval report or two while it waits
        # Idle now, waiting on its stdin: the final summary reads /proc as it stands.
        mw.interrupt(m)
        trace = mw.read_ndjson(out)
    finally:
        w.send()
        w.wait(10, "toucher")
    p = trace.process(w.pid)
    check_parts(p, "attached")
    # Read at two moments: after its own read the process prints and waits, which may touch
    # a page or two more (its stdio buffers).
    check(abs(p.get("rss_anon", 0) - st["anon"]) <= 4 * 4096,
          f"rss_anon {p.get('rss_anon')} against RssAnon {st['anon']} read by the process")
    within(p.get("rss_end"), st["rss"], 0.05, "rss_end against VmRSS read by the process")
    check("rss_slack" not in p, f"read from /proc, exact: {p}")
    check(p.get("rss_start", 1 << 62) < st["anon"] // 4,
          f"rss_start {p.get('rss_start')} is from before the threads touched memory")
    intervals = trace.of("process_summary", pid=w.pid)
    check(len(intervals) >= 2 and all("rss_end" in e for e in intervals),
          f"every interval's process_summary has rss_end: {len(intervals)} summaries")
    check_faulted(trace, w.pid)


def test_resident_text_columns():
    rc, text, _, err = mw.launch("-c", "--", mw.wl("toucher"), "-n", THREADS, "-m", MIB)
    eq(rc, 0, f"memwatch exit status (stderr {mw.tail(err)!r})")
    check(re.search(r"RSS \S+ -> \S+ ---", text), f"no RSS in the process line: {text[:400]!r}")
    head = re.search(r"^\s+TID COMM\s+MAPPED .* FAULTED$", text, re.M)
    check(head, f"no FAULTED column next to MAPPED: {text[:800]!r}")
    for i in range(1, THREADS + 1):
        row = re.search(rf"^\s*\d+ touch-{i}\s+.*\s(\S+)$", text[head.end():], re.M)
        check(row, f"no row for touch-{i}")
        eq(row.group(1), f"{i * MIB}M" if i * MIB >= 10 else f"{i * MIB}.0M",
           f"touch-{i}: FAULTED column")


def test_resident_no_faults_says_unknown():
    """--no-faults: no fault probe, so no faults or faulted keys (unknown, not 0) and no FAULTED
    column; resident memory is still read."""
    rc, trace, err = mw.launch_json("--no-faults", "--", mw.wl("toucher"), "-n", 1, "-m", 1)
    eq(rc, 0, f"memwatch exit status (stderr {mw.tail(err)!r})")
    for t in trace.thread_summaries().values():
        check("faults" not in t and "faulted" not in t, f"fault keys without the probe: {t}")
    p = trace.of("process_summary")[-1]
    check(p.get("rss_end", 0) > 0, f"resident memory is still read: {p}")
    rc, text, _, err = mw.launch("-c", "--no-faults", "--", mw.wl("toucher"), "-n", 1, "-m", 1)
    eq(rc, 0, f"memwatch -c exit status (stderr {mw.tail(err)!r})")
    check("FAULTED" not in text and "MAPPED" in text, f"a FAULTED column: {text[:600]!r}")
