# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Ring-buffer overflow: with a tiny ring (--ring-size 4096, a few dozen records) a tight
mmap/munmap loop must lose events; the loss is reported, and the per-thread call counts stay
exact because they come from kernel counters, not from the events. The output goes to a FIFO
that is not read while the target runs, so memwatch stalls and overflow is certain. The loss
memwatch reports is compared with the kernel's own counters, which memwatch -v prints at exit
("memwatch: kernel: N records, N lost (ring full), ...")."""
import re

import expect as X
import mw
from mw import check, eq

N = 200000


def kernel_counters(err):
    """(records submitted, records lost) from memwatch -v's closing line on stderr."""
    found = re.findall(r"^memwatch: kernel: (\d+) records, (\d+) lost \(ring full\)", err, re.M)
    eq(len(found), 1, f"'memwatch: kernel: N records, N lost' lines on stderr "
                      f"({mw.tail(err)!r})")
    return int(found[0][0]), int(found[0][1])


def test_drops_reported_counts_exact():
    """The lost count memwatch reports (the NDJSON `lost` objects, summed) equals the kernel's
    ring-full counter; per-thread calls stay exact (kernel counters); every syscall record is
    delivered or counted in process_summary `dropped`; the records the kernel submitted are
    the delivered syscall events plus the target's few other records (its exit)."""
    w = mw.workload("spinner", "-w", "-n", N)
    fifo = mw.SlowPipe()
    m = mw.attach([w.pid], "-v", "--json", "--ring-size", "4096", out=fifo.path)
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
    records, klost = kernel_counters(m.text("err"))
    eq(lost, klost, "lost events reported (sum of the `lost` objects) vs the kernel's counter")
    eq(got + dropped, 2 * N, "delivered syscall events + process_summary dropped")
    # Lost records beyond the syscall ones, and delivered ones beyond the syscall events:
    # the target's other records (its exit), a handful at most.
    check(klost >= dropped and records >= got and 1 <= (klost - dropped) + (records - got) <= 4,
          f"kernel: {records} records + {klost} lost vs {got} syscall events delivered + "
          f"{dropped} dropped")
    for e in tr.syscalls(pid=w.pid):
        d = e.get("vm_delta")
        if d not in (4096, -4096, 0):
            raise AssertionError(f"bogus vm_delta after drops: {e}")


def test_drops_visible_in_text_mode():
    """Text mode: the "!!! N events lost" lines add up to the kernel's ring-full counter, and
    the closing summary's "N events lost" is the syscall records that never arrived (the
    spinner's 200000 calls less its syscall lines)."""
    w = mw.workload("spinner", "-w", "-n", 100000)
    fifo = mw.SlowPipe()
    m = mw.attach([w.pid], "-v", "--ring-size", "4096", out=fifo.path)
    w.send()
    eq(w.wait(60, "spinner"), 0, "spinner exit status")
    text = fifo.drain(m)
    eq(mw.finish(m, 20), 0, "memwatch exit status")
    _, klost = kernel_counters(m.text("err"))
    check(klost > 0, "the kernel lost no record through a 4 KiB ring")
    marks = [int(n) for n in re.findall(r"^\S+ !!! (\d+) events lost \(ring buffer full; "
                                        r"counters stay exact\) !!!$", text, re.M)]
    check(marks, f"no '!!! N events lost' line in text mode; {len(mw.parse_text(text))} syscall "
                 f"lines of 200000")
    eq(sum(marks), klost, "the '!!! N events lost' lines, summed, vs the kernel's counter")
    lines = len([t for t in mw.parse_text(text) if t.pid == w.pid])
    summ = re.findall(rf"^--- pid {w.pid} \(spinner\):.*, (\d+) events lost", text, re.M)
    eq([int(n) for n in summ], [200000 - lines], "the summary's 'N events lost' vs the syscall "
                                                  "lines that did not arrive")


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
