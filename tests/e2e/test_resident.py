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
    # The process is gone: the kernel's counters as it ended.
    within(p.get("rss_end"), st["rss"], 0.05, "rss_end against the VmRSS it read before exit")
    within(p.get("rss_anon"), st["anon"], 0.05, "rss_anon against its RssAnon")
    if mw.kernel_release() >= (6, 2):
        # Per-CPU counters, summed whole (rss_delta's offsets): exact, no rss_slack. After
        # its read the process prints and exits, which may touch a page or two more.
        check("rss_slack" not in p, f"the per-CPU parts summed, exact: {p}")
        check(abs(p.get("rss_anon", 0) - st["anon"]) <= 4 * 4096,
              f"rss_anon {p.get('rss_anon')} against RssAnon {st['anon']} read by the process")
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
    column; resident memory is still read. Without --rss-delta: no rss_delta on any call."""
    rc, trace, err = mw.launch_json("--no-faults", "--", mw.wl("toucher"), "-n", 1, "-m", 1)
    eq(rc, 0, f"memwatch exit status (stderr {mw.tail(err)!r})")
    for t in trace.thread_summaries().values():
        check("faults" not in t and "faulted" not in t, f"fault keys without the probe: {t}")
    p = trace.of("process_summary")[-1]
    check(p.get("rss_end", 0) > 0, f"resident memory is still read: {p}")
    # Without --rss-delta no call says its effect (the loader's munmap of its cache would).
    rc, trace, err = mw.launch_json("--no-faults", "--", mw.wl("rssdrop"),
                                    "-n", 3, "-p", RSSDROP_PAGES)
    eq(rc, 0, f"memwatch without --rss-delta: exit status (stderr {mw.tail(err)!r})")
    calls = trace.syscalls()
    check(any(e["name"] == "munmap" for e in calls), "munmaps traced")
    check(not any("rss_delta" in e for e in calls), "an rss_delta without --rss-delta")
    rc, text, _, err = mw.launch("-c", "--no-faults", "--", mw.wl("toucher"), "-n", 1, "-m", 1)
    eq(rc, 0, f"memwatch -c exit status (stderr {mw.tail(err)!r})")
    check("FAULTED" not in text and "MAPPED" in text, f"a FAULTED column: {text[:600]!r}")


# ---- rss_delta: a munmap's, madvise's or mremap's exact effect on resident memory ----

RSSDROP_PAGES = 64


def rssdrop_calls(err):
    """rssdrop's 'call NAME ADDR BEFORE AFTER' lines: (name, addr, RssAnon after - before)."""
    calls = [(m.group(1), int(m.group(2), 16), int(m.group(4)) - int(m.group(3)))
             for m in re.finditer(r"^call (\w+) ([0-9a-f]+) (\d+) (\d+)$", err, re.M)]
    check(calls, f"rssdrop printed no call lines: {mw.tail(err)!r}")
    return calls


def rss_traced_calls(trace, pid, tid, pages=RSSDROP_PAGES):
    """The measured calls' syscall objects, in order: in each round the first munmap, madvise
    or mremap after the madvise(MADV_NOHUGEPAGE) of the round's mapping."""
    out, armed = [], False
    for e in trace.syscalls(pid=pid, tid=tid):
        advice = e.get("args", {}).get("advice")
        if advice == "MADV_NOHUGEPAGE" and e["args"].get("len") == pages * 4096:
            armed = True
        elif armed and e["name"] in ("munmap", "madvise", "mremap"):
            out.append(e)
            armed = False
    return out


def check_rss_parts(e):
    eq(e["rss_delta"], e["rss_delta_anon"] + e["rss_delta_file"] + e["rss_delta_shmem"],
       f"rss_delta = its parts: {e}")


def want_drop(name, pages=RSSDROP_PAGES):
    """What the call removes from RssAnon: the whole mapping; mremap keeps one page."""
    return -(pages - (name == "mremap")) * 4096


def need_rss_delta():
    if mw.kernel_release() < (6, 2):
        mw.skip_kernel_lacks("percpu_rss")


def test_rss_delta_exact():
    """Single-threaded, each measured call's rss_delta is the RssAnon change the process read
    around it, and every page it dropped; the madvise'd mapping's munmap after drops nothing
    (0, known); a --record of the run replays to the same rss_delta values. With --stacks (the
    records that carry a stack carry it after the stack bytes; the plain records are the
    disturbed test's)."""
    need_rss_delta()
    rec = mw.tmpfile("rss_delta.rec")
    rc, trace, err = mw.launch_json("--rss-delta", "--stacks", "--record", rec, "--", mw.wl("rssdrop"), "-n",
                                    9, "-p", RSSDROP_PAGES)
    eq(rc, 0, f"memwatch exit status (stderr {mw.tail(err)!r})")
    calls = rssdrop_calls(err)
    pid = trace.of("process_summary")[-1]["pid"]
    traced = rss_traced_calls(trace, pid, pid)
    eq([(e["name"], mw.addr(e["args"].get("addr", e["args"].get("old_addr")))) for e in traced],
       [(n, a) for n, a, _ in calls], "the measured calls, in order")
    for e, (name, _, oracle) in zip(traced, calls):
        check("rss_delta" in e, f"single-threaded, nothing disturbs the call: {e}")
        eq(e["rss_delta"], oracle, f"{name}: rss_delta against RssAnon read around it")
        eq(e["rss_delta"], want_drop(name), f"{name}: rss_delta, every page it dropped")
        eq(e["rss_delta_anon"], e["rss_delta"], f"{name}: all anonymous")
        check_rss_parts(e)
    empties = [e for e in trace.syscalls(pid=pid, name="munmap")
               if e["args"].get("len") == RSSDROP_PAGES * 4096 and "rss_delta" in e
               and e["rss_delta"] == 0]
    eq(len(empties), 3, "munmaps of the madvise'd (empty) mappings: rss_delta 0")
    for e in trace.syscalls(pid=pid):
        check(e["name"] in ("munmap", "madvise", "mremap") or "rss_delta" not in e,
              f"rss_delta only on munmap, madvise, mremap: {e}")
    rout = mw.tmpfile("rss_delta.replay.ndjson")
    rc, _, rerr = mw.run([mw.need_memwatch(), "--json", "-o", rout, "--replay", rec])
    eq(rc, 0, f"memwatch --replay: {mw.tail(rerr)!r}")
    replayed = rss_traced_calls(mw.read_ndjson(rout), pid, pid)
    eq([e.get("rss_delta") for e in replayed], [e.get("rss_delta") for e in traced],
       "rss_delta replayed")


def test_rss_delta_disturbed_is_absent():
    """A second thread faults and drops pages in every other three rounds (and sleeps in the
    others): each call's rss_delta is its own effect exactly, or absent (the counters moved
    under it); never another thread's pages counted in. Some calls must get it, and the
    faulter must have disturbed some (else the test proves nothing: on 2 busy shared CPUs the
    two threads may not run at once, so up to 3 runs)."""
    need_rss_delta()
    # 4 MiB a call: long enough for the faulter to run into many of them.
    pages, runs = 1024, []
    for _ in range(3):
        runs.append(disturbed_run(pages))
        if runs[-1]:
            break
    check(runs[-1], f"no call was disturbed in {len(runs)} runs")


def disturbed_run(pages):
    """One run of rssdrop -t: checks every rss_delta; returns how many calls had none."""
    rc, trace, err = mw.launch_json("--rss-delta", "--", mw.wl("rssdrop"), "-t", "-n", 24, "-p", pages)
    eq(rc, 0, f"memwatch exit status (stderr {mw.tail(err)!r})")
    pid = trace.of("process_summary")[-1]["pid"]
    main = rss_traced_calls(trace, pid, pid, pages)
    eq(len(main), len(rssdrop_calls(err)), "the main thread's measured calls")
    known = [e for e in main if "rss_delta" in e]
    for e in known:
        eq(e["rss_delta"], want_drop(e["name"], pages),
           f"{e['name']}: rss_delta, its own pages only")
        check_rss_parts(e)
    # Its other calls whose effect is known too: the madvise(MADV_NOHUGEPAGE) of each mapping
    # (nothing), the munmap of mremap's remaining page (that page).
    for e in trace.syscalls(pid=pid, tid=pid):
        a = e["args"]
        if "rss_delta" in e and a.get("advice") == "MADV_NOHUGEPAGE" and \
                a.get("len") == pages * 4096:
            eq(e["rss_delta"], 0, f"madvise(MADV_NOHUGEPAGE): {e}")
            known.append(e)
        elif "rss_delta" in e and e["name"] == "munmap" and a.get("len") == 4096:
            eq(e["rss_delta"], -4096, f"munmap of mremap's remaining page: {e}")
            known.append(e)
    # The faulter's drops of its 512 pages, every one written since its last drop (its exit
    # also drops its thread stack: not one of these).
    faulter = trace.thread("faulter", pid)
    drops = [e for e in trace.syscalls(pid=pid, tid=faulter["tid"], name="madvise")
             if e["args"].get("len") == 512 * 4096 and e["args"].get("advice") == "MADV_DONTNEED"]
    check(drops, "the faulter's drops")
    for e in drops:
        if "rss_delta" in e:
            eq(e["rss_delta"], -512 * 4096, f"the faulter's MADV_DONTNEED of its pages: {e}")
    check(known, f"no call of the main thread got an rss_delta ({len(main)} measured)")
    return len(main) - len(known) + sum(1 for e in drops if "rss_delta" not in e)
