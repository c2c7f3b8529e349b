# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Ring-buffer overflow: with a tiny ring (--ring-size 4096, a few dozen records) a tight
mmap/munmap loop must lose events; the loss is reported, and the per-thread call counts stay
exact because they come from kernel counters, not from the events. The output goes to a FIFO
that is not read while the target runs, so memwatch stalls and overflow is certain."""
import re

import expect as X
import mw
from mw import check, eq

N = 200000


def test_drops_reported_counts_exact():
    w = mw.workload("spinner", "-w", "-n", N)
    fifo = mw.SlowPipe()
    m = mw.attach([w.pid], "--json", "--ring-size", "4096", out=fifo.path)
    w.send()
    eq(w.wait(60, "spinner"), 0, "spinner exit status")
    text = fifo.drain(m)
    eq(mw.finish(m, 20), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    tr = mw.Trace(mw.parse_ndjson(text))
    ts = tr.thread("spinner", w.pid)
    eq(ts["calls"], X.calls(mmap=N, munmap=N), "spinner calls (kernel counters) despite drops")
    eq(ts["errors"], 0, "errors")
    lost = tr.lost()
    dropped = tr.process(w.pid).get("dropped")
    got = len(tr.syscalls(pid=w.pid))
    check(lost > 0, f"no `lost` object although {got} of {2 * N} syscall events arrived")
    check(isinstance(dropped, int) and dropped > 0, f"process_summary dropped = {dropped!r}")
    check(got < 2 * N, f"all {got} events arrived through a 4 KiB ring: nothing was dropped?")
    # Every record is either delivered or counted: syscalls + the exit record(s).
    check(2 * N <= got + dropped <= 2 * N + 4,
          f"delivered syscall events {got} + dropped {dropped} != {2 * N} (+ exit records)")
    for e in tr.syscalls(pid=w.pid):
        d = e.get("vm_delta")
        if d not in (4096, -4096, 0):
            raise AssertionError(f"bogus vm_delta after drops: {e}")


def test_drops_visible_in_text_mode():
    w = mw.workload("spinner", "-w", "-n", 100000)
    fifo = mw.SlowPipe()
    m = mw.attach([w.pid], "--ring-size", "4096", out=fifo.path)
    w.send()
    eq(w.wait(60, "spinner"), 0, "spinner exit status")
    text = fifo.drain(m)
    eq(mw.finish(m, 20), 0, "memwatch exit status")
    err = m.text("err")
    hits = [ln for ln in (text + "\n" + err).splitlines()
            if re.search(r"\b(lost|dropped)\b", ln, re.I) and re.search(r"\b[1-9]\d*\b", ln)]
    check(hits, "no line reporting lost/dropped events in text mode (output or stderr); "
          f"{len(mw.parse_text(text))} syscall lines of 200000")


def test_no_drops_default_ring():
    """With the default ring, a moderate rate (exiter, ~1000 calls/s) loses nothing."""
    w = mw.workload("exiter", "-w", "-n", "2000", "-s", "200")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", out=out)
    w.send()
    eq(w.wait(30, "exiter"), 3, "exiter exit status")
    eq(mw.finish(m, 15), 0, "memwatch exit status")
    tr = mw.read_ndjson(out)
    eq(tr.lost(), 0, "lost events")
    eq(tr.process(w.pid).get("dropped"), 0, "process_summary dropped")
    eq(len(tr.syscalls(pid=w.pid)), 4000, "syscall events")
