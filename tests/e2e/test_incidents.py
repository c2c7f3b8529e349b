# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Incidents answered while nobody watches (issue 14): the OOM killer's victim among the traced
processes gets its final ledger written at once (an `oom` object, memwatch_oom_kills_total).

The victim is the `grower` workload in a memory cgroup of its own with a 64 MiB limit and no
swap (cgroup v2's memory.max where the v2 hierarchy has the memory controller, else v1's
memory.limit_in_bytes): its thread "leaker" maps 1 MiB malloc chunks until the kernel kills it.
grower stops by itself at 512 MiB, so a limit that did not apply never starves the host."""
import os
import signal
import subprocess
import time
import uuid

import mw
from mw import check, eq
from test_metrics import Endpoint, value
from test_noise import check_object, manual_schema

LIMIT = 64 << 20


class MemCgroup:
    """A fresh memory cgroup limited to `limit` bytes without swap: v2 when the v2 hierarchy
    has the memory controller, else the v1 memory hierarchy."""

    def __init__(self, limit):
        name = "memwatch-e2e-oom-" + uuid.uuid4().hex[:8]
        v2 = self._v2_root()
        if v2:
            self.path = os.path.join(v2, name)
            os.mkdir(self.path)
            self._write("memory.max", str(limit))
            if os.path.exists(os.path.join(self.path, "memory.swap.max")):
                self._write("memory.swap.max", "0")
            return
        v1 = self._v1_root()
        check(v1, "no memory cgroup: neither cgroup v2 with the memory controller nor a v1 "
              "memory hierarchy is mounted")
        self.path = os.path.join(v1, name)
        os.mkdir(self.path)
        self._write("memory.limit_in_bytes", str(limit))
        if os.path.exists(os.path.join(self.path, "memory.memsw.limit_in_bytes")):
            self._write("memory.memsw.limit_in_bytes", str(limit))

    @staticmethod
    def _mounts(fstype):
        with open("/proc/mounts") as f:
            return [(l.split()[1], l.split()[3]) for l in f if l.split()[2] == fstype]

    def _v2_root(self):
        for d, _ in self._mounts("cgroup2"):
            try:
                with open(os.path.join(d, "cgroup.subtree_control")) as f:
                    if "memory" in f.read().split():
                        return d
            except OSError:
                pass
        return None

    def _v1_root(self):
        for d, opts in self._mounts("cgroup"):
            if "memory" in opts.split(","):
                return d
        return None

    def _write(self, name, text):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(text)

    def argv(self, argv):
        """sh moves itself into the cgroup, then execs argv."""
        return ["/bin/sh", "-c", f"echo $$ > {self.path}/cgroup.procs && exec " + " ".join(argv)]

    def remove(self):
        mw.remove_cgroup(self.path)


def test_oom_last_word():
    """grower in a 64 MiB cgroup is OOM-killed; `--trigger cgroup>=50%` fired before; the
    `oom` object names its pid, its biggest
    thread (grower, not the main thread) and class (malloc_chunk) with the bytes it held; the
    Prometheus endpoint counts it; an idle process traced beside it has no `oom` object; a
    replay of the recording writes the same object; --incident-dir holds a bundle with it."""
    out = mw.tmpfile("oom.json")
    rec = mw.tmpfile("oom.rec")
    inc = os.path.join(mw.tmpdir(), "oom-incidents")
    cg = MemCgroup(LIMIT)
    try:
        g = mw.Proc(cg.argv([mw.wl("grower"), "-w", "-d", "40", "-m", "512"]),
                    stdin=subprocess.PIPE, name="grower")
        g.wait_line(r"^ready \d+$")
        idle = mw.Proc([mw.wl("grower"), "-m", "0", "-W"], stdin=subprocess.PIPE, name="idle")
        idle.wait_line(r"^done \d+$")
        port = mw.free_port()
        m = mw.attach([g.pid, idle.pid], "--json", "--prometheus", f"127.0.0.1:{port}",
                      "--trigger", "cgroup>=50%", "--record", rec,
                      "--incident-dir", inc, out=out)
        g.send()
        rc = g.wait(30)
        eq(rc, -signal.SIGKILL, f"grower's end (stderr {mw.tail(g.text('err'))!r})")
        ep = Endpoint(port)
        deadline = time.monotonic() + 5
        while value(ep.samples(), "memwatch_oom_kills_total") < 1:
            check(time.monotonic() < deadline, "memwatch_oom_kills_total stayed 0")
            time.sleep(0.1)
        eq(value(ep.samples(), "memwatch_oom_kills_total"), 1, "memwatch_oom_kills_total")
        idle.close_stdin()
        eq(mw.finish(m), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    finally:
        cg.remove()
    tr = mw.read_ndjson(out)
    ooms = tr.of("oom")
    eq([o["pid"] for o in ooms], [g.pid], "the oom objects' pids")
    o = ooms[0]
    schema, problems = manual_schema(), set()
    check_object(schema, "oom", {k: v for k, v in o.items() if k != "type"}, schema["(every)"],
                 problems)
    check(not problems, f"oom keys differ from the manual: {sorted(problems)}")
    big = o.get("top_thread", {})
    check(big.get("comm") == "leaker" and big.get("tid") != g.pid,
          f"the biggest thread is grower's, not main's: {big}")
    eq(o.get("top_class"), "malloc_chunk",
       f"the biggest class (committed_by_class {o.get('committed_by_class')})")
    held = o["committed_by_class"]["malloc_chunk"]
    check(LIMIT // 2 <= held <= 2 * LIMIT,
          f"malloc_chunk bytes held at the kill: {held}, limit {LIMIT}")
    check(o["mapped"] >= held and o["growth"]["mapped"] >= held,
          f"mapped and growth hold the chunks: {o['mapped']}, {o['growth']}")
    row = [t for t in o["threads"] if t["tid"] == big["tid"]]
    check(row and row[0]["by_class"].get("malloc_chunk") == held,
          f"leaker's row in threads holds the chunks: {row}")
    # Growing 1 MiB per 40 ms, from half the limit to the kill takes over a second: the
    # cgroup trigger (evaluated once a second) fired first, with the cgroup's own numbers.
    cgt = [e for e in tr.of("trigger") if e["pid"] == g.pid]
    eq([(e["trigger"], e["kind"], e["limit"]) for e in cgt], [("cgroup>=50%", "cgroup", LIMIT)],
       "grower's cgroup trigger")
    check(LIMIT // 2 <= cgt[0]["value"] <= LIMIT and cgt[0]["ts_ns"] < o["ts_ns"],
          f"the cgroup's use when it fired, before the kill: {cgt[0]}")
    ps = [p for p in tr.of("process_summary") if p["pid"] == g.pid]
    check(ps and ps[-1].get("signal") == signal.SIGKILL, f"grower's final summary: {ps[-1:]}")
    # The oom object comes before the victim's final summary: written before its exit.
    lines = [e for e in tr.events if e.get("pid") == g.pid and e["type"] in
             ("oom", "process_summary")]
    eq(lines[0]["type"], "oom", "the first of grower's oom/summary objects")
    # The recording holds the kernel's record: a replay writes the same oom object.
    rc, text, err = mw.run([mw.need_memwatch(), "--replay", rec, "--json", "-c", "-o", "-"])
    eq(rc, 0, f"--replay exit status (stderr {mw.tail(err)!r})")
    eq([e for e in mw.parse_ndjson(text) if e["type"] == "oom"], ooms, "the replay's oom objects")
    # --incident-dir: a bundle of its own, the same oom object and the ledger in it.
    dirs = os.listdir(inc)
    check(len(dirs) == 1 and dirs[0].endswith(f"-{g.pid}-grower-oom"), f"bundles: {dirs}")
    b = mw.read_ndjson(os.path.join(inc, dirs[0], "oom.ndjson"))
    eq(b.of("oom"), ooms, "the bundle's oom object")
    check(b.of("process_summary") and b.of("thread_summary"), "the bundle holds the ledger")
    with open(os.path.join(inc, dirs[0], "report.html"), encoding="utf-8") as f:
        page = f.read()
    check(page.startswith("<!DOCTYPE html>") and "leaker" in page,
          f"the bundle's report.html: {page[:200]!r}")
    with open(os.path.join(inc, dirs[0], "summary.txt")) as f:
        summary = f.read()
    check(f"pid {g.pid} (grower) chosen by the OOM killer" in summary and "(leaker)" in summary
          and "malloc_chunk" in summary, f"summary.txt: {summary!r}")
    check(f"memwatch: pid {g.pid}: chosen by the OOM killer; bundle {inc}/" in m.text("err"),
          f"the log's line: {mw.tail(m.text('err'))!r}")


def test_oom_last_word_stacks():
    """With --malloc, the OOM victim's leak report comes with its `oom` object, before its exit:
    the top stack holding its heap is grow_leak's."""
    out = mw.tmpfile("oom_malloc.json")
    cg = MemCgroup(LIMIT)
    try:
        g = mw.Proc(cg.argv([mw.wl("grower"), "-w", "-m", "512"]), stdin=subprocess.PIPE,
                    name="grower")
        g.wait_line(r"^ready \d+$")
        # Every allocation traced: this is about the report at the OOM kill, not about the
        # overhead budget's estimates (-p has one by default).
        m = mw.attach([g.pid], "--json", "--malloc", "--max-overhead", "0", out=out)
        g.send()
        eq(g.wait(30), -signal.SIGKILL, f"grower's end (stderr {mw.tail(g.text('err'))!r})")
        eq(mw.finish(m), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    finally:
        cg.remove()
    tr = mw.read_ndjson(out)
    seq = [e for e in tr.events if e.get("pid") == g.pid and e["type"] in
           ("oom", "leak", "process_summary")]
    types = [e["type"] for e in seq]
    check("oom" in types, f"no oom object: {types}")
    at = types.index("oom")
    leaks = [e for e in seq[at + 1:] if e["type"] == "leak"]
    check(leaks and types.index("process_summary", at) > at + 1,
          f"leak objects between the oom object and the final summary: {types}")
    top = max(leaks, key=lambda e: e["bytes"])
    funcs = [f.get("func") for f in top.get("stack", [])]
    check("grow_leak" in funcs, f"the top leak's stack names grow_leak: {funcs}")
    check(top["bytes"] >= LIMIT // 4, f"the top leak holds the chunks: {top['bytes']}")


CHUNK = (1 << 20) + 4096  # a 1 MiB malloc_chunk mapping: the block and glibc's header page


def test_oom_last_word_budget():
    """The same OOM report at the default overhead budget (-p has one): grower, idle for half a
    second after memwatch attached, then allocating 1 MiB every few ms until the kill (about
    0.6 s), costs the probes under half the budget. What the budget earns is measured on its
    CPU time since it began to allocate, not since the attach (the idle time made the probes
    look dearer than the budget: cut into windows, attached 58-89% of the time, the top leak at
    14.4 MB where about 60 were held): the top leak, grow_leak's, holds what grower held at the
    kill within 20%, and the probes' share stays within the budget."""
    out = mw.tmpfile("oom_budget.json")
    cg = MemCgroup(LIMIT)
    try:
        g = mw.Proc(cg.argv([mw.wl("grower"), "-w", "-m", "512"]), stdin=subprocess.PIPE,
                    name="grower")
        g.wait_line(r"^ready \d+$")
        m = mw.attach([g.pid], "--json", "--malloc", out=out)
        time.sleep(0.5)  # idle while traced: what the budget earns on before
        g.send()
        eq(g.wait(30), -signal.SIGKILL, f"grower's end (stderr {mw.tail(g.text('err'))!r})")
        eq(mw.finish(m), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    finally:
        cg.remove()
    tr = mw.read_ndjson(out)
    o = tr.of("oom", pid=g.pid)
    check(o, "no oom object")
    held = o[0]["committed_by_class"]["malloc_chunk"]
    want = held // CHUNK << 20  # the blocks' own bytes
    b = tr.of("malloc_budget", pid=g.pid)
    check(b and b[-1]["budget_pct"] > 0, f"no budget: {b}")
    leaks = tr.of("leak", pid=g.pid)
    check(leaks, f"no leak objects (budget {b[-1]})")
    top = max(leaks, key=lambda e: e["bytes"])
    funcs = [f.get("func") for f in top.get("stack", [])]
    check("grow_leak" in funcs, f"the top leak's stack names grow_leak: {funcs}")
    err = abs(top["bytes"] - want) / want
    check(err <= 0.2, f"the top leak: {top['bytes']} bytes (traced {top.get('traced_bytes')}), "
          f"grower held {want} ({100 * err:.0f}% off; budget {b[-1]})")
    check(b[-1]["share_pct"] <= b[-1]["budget_pct"], f"over the budget: {b[-1]}")


def test_oom_last_word_detached():
    """The OOM report of a process whose probes came and went (--duty 0.1,0.5, no budget):
    grower's 256 KiB chunks made before the last detached window are of known fate all the
    same (an mmapped chunk is freed by munmap, which the syscall trace sees: its mapping is
    still in memwatch's map at the kill), where all but the last window's were of unknown fate.
    The top leak, grow_leak's, scaled for the time detached, holds what grower held within
    20%."""
    out = mw.tmpfile("oom_detached.json")
    cg = MemCgroup(LIMIT)
    try:
        g = mw.Proc(cg.argv([mw.wl("grower"), "-w", "-k", "256", "-d", "4", "-m", "512"]),
                    stdin=subprocess.PIPE, name="grower")
        g.wait_line(r"^ready \d+$")
        m = mw.attach([g.pid], "--json", "--malloc", "--max-overhead", "0", "--duty", "0.1,0.5",
                      out=out)
        g.send()
        eq(g.wait(30), -signal.SIGKILL, f"grower's end (stderr {mw.tail(g.text('err'))!r})")
        eq(mw.finish(m), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    finally:
        cg.remove()
    tr = mw.read_ndjson(out)
    seq = [e for e in tr.events if e.get("pid") == g.pid and e["type"] in
           ("oom", "leak", "malloc_budget")]
    at = [e["type"] for e in seq].index("oom")
    b = [e for e in seq[at:] if e["type"] == "malloc_budget"]
    check(b and b[0]["windows"] >= 2, f"not detached before the kill: {b[:1]}")
    held = tr.of("oom", pid=g.pid)[0]["committed_by_class"]["malloc_chunk"]
    want = held // ((256 << 10) + 4096) << 18
    leaks = [e for e in seq[at:] if e["type"] == "leak"]
    check(leaks, f"no leak objects at the kill (budget {b[0]})")
    top = max(leaks, key=lambda e: e["bytes"])
    check("grow_leak" in [f.get("func") for f in top.get("stack", [])],
          f"the top leak's stack names grow_leak: {top.get('stack')}")
    err = abs(top["bytes"] - want) / want
    check(err <= 0.2 and top["estimated"],
          f"the top leak: {top['bytes']} bytes (traced {top.get('traced_bytes')}), grower held "
          f"{want} ({100 * err:.0f}% off; budget {b[0]})")


# ---------------------------------------------------------------- triggers

def _wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        r = fn()
        if r:
            return r
        check(time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def test_trigger_fires_on_growth():
    """--trigger committed+32M/5s and resident+32M/5s on grower (quiet 2 s, then 48 MiB of
    chunks, every page touched) and an idle process: one `trigger` object of each for grower,
    after its quiet phase, with 32 MiB or more of growth from before it (once: the next would
    need 32 MiB more than the first firing's value); none for the idle one;
    memwatch_triggers_fired_total counts them. (Mapped bytes would also count the 64 MiB
    reservation of leaker's arena.)"""
    out = mw.tmpfile("trigger.json")
    g = mw.Proc([mw.wl("grower"), "-w", "-q", "2000", "-m", "48", "-W"], stdin=subprocess.PIPE,
                name="grower")
    g.wait_line(r"^ready \d+$")
    idle = mw.Proc([mw.wl("grower"), "-m", "0", "-W"], stdin=subprocess.PIPE, name="idle")
    idle.wait_line(r"^done \d+$")
    port = mw.free_port()
    m = mw.attach([g.pid, idle.pid], "--json", "-c", "--trigger", "committed+32M/5s",
                  "--trigger", "resident+32M/5s",
                  "--prometheus", f"127.0.0.1:{port}", out=out)
    t_go = time.time_ns()
    g.send()
    g.wait_line(r"^done \d+$")
    ep = Endpoint(port)
    _wait_for(lambda: value(ep.samples(), "memwatch_triggers_fired_total") >= 2, 5,
              "memwatch_triggers_fired_total")
    time.sleep(1.2)  # one more evaluation: a process that stopped growing does not fire again
    eq(value(ep.samples(), "memwatch_triggers_fired_total"), 2, "memwatch_triggers_fired_total")
    g.close_stdin()
    idle.close_stdin()
    eq(mw.finish(m), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    tr = mw.read_ndjson(out)
    fired = tr.of("trigger")
    eq(sorted((f["pid"], f["trigger"]) for f in fired),
       [(g.pid, "committed+32M/5s"), (g.pid, "resident+32M/5s")], "trigger objects")
    schema, problems = manual_schema(), set()
    for f in fired:
        check(f["ts_ns"] >= t_go + 2 * 10**9 - 10**8,
              f"fired {(f['ts_ns'] - t_go) / 1e9:.2f} s after the go: in grower's quiet phase")
        check(f["value"] - f["from"] >= 32 << 20 and f["since_ns"] <= f["ts_ns"],
              f"growth of 32 MiB or more: {f}")
        eq((f["kind"], f["metric"]), ("growth", f["trigger"].split("+")[0]), "kind and metric")
        check_object(schema, "trigger", {k: v for k, v in f.items() if k != "type"},
                     schema["(every)"], problems)
    check(not problems, f"trigger keys differ from the manual: {sorted(problems)}")


def test_trigger_sighup_changes_it():
    """memwatch daemon --config FILE with `trigger = mapped>=1G` on grower, grown to 48 MiB:
    nothing fires; the file says `trigger = mapped>=32M` and SIGHUP: it fires, once."""
    out = mw.tmpfile("trigger_hup.json")
    conf = mw.tmpfile("trigger.conf")
    g = mw.Proc([mw.wl("grower"), "-m", "48", "-W"], stdin=subprocess.PIPE, name="grower")
    g.wait_line(r"^done \d+$")

    def write(trigger):
        with open(conf, "w") as f:
            f.write(f"pid = {g.pid}\noutput = {out}\ntrigger = {trigger}\n")

    write("mapped>=1G")
    p = mw.memwatch("daemon", "--config", conf)
    mw.wait_tracing(p)
    time.sleep(2.2)  # two evaluations at least
    write("mapped>=32M")
    p.signal(signal.SIGHUP)
    p.wait_line(r"^memwatch: SIGHUP: configuration reloaded$")

    def fired():
        try:
            return [e for e in mw.read_ndjson(out).of("trigger")]
        except (OSError, AssertionError):
            return []

    _wait_for(fired, 5, "a trigger object after SIGHUP")
    time.sleep(1.2)
    eq(mw.interrupt(p, signal.SIGTERM, timeout=20), 0, "daemon exit status")
    g.close_stdin()
    eq([(f["pid"], f["trigger"]) for f in fired()], [(g.pid, "mapped>=32M")], "trigger objects")
    check(fired()[0]["value"] >= 48 << 20, f"the level's value: {fired()[0]}")


# ---------------------------------------------------------------- escalation

def test_escalation_bundle_names_leak():
    """--trigger committed+8M/5s --escalate-for 2s on grower (quiet 2 s, then 256 KiB chunks
    every 20 ms up to 64 MiB) and an idle process: one escalation, for grower only, after its
    quiet phase; its bundle (summary.txt, incident.ndjson, heap.pb.gz) names grow_leak as the
    top stack and leaker as the top thread; the probes are off after it (the process's later
    mallocs are not seen); memwatch_escalations_total is 1; later firings are refused
    (one escalation per process an hour); the start and the end are logged on stderr (the
    daemon's log, memwatch top's status line)."""
    out = mw.tmpfile("escalate.json")
    inc = os.path.join(mw.tmpdir(), "incidents")
    g = mw.Proc([mw.wl("grower"), "-w", "-q", "2000", "-k", "256", "-d", "20", "-m", "64", "-W"],
                stdin=subprocess.PIPE, name="grower")
    g.wait_line(r"^ready \d+$")
    idle = mw.Proc([mw.wl("grower"), "-m", "0", "-W"], stdin=subprocess.PIPE, name="idle")
    idle.wait_line(r"^done \d+$")
    port = mw.free_port()
    m = mw.attach([g.pid, idle.pid], "--json", "-c", "--trigger", "committed+8M/5s",
                  "--escalate-for", "2s", "--incident-dir", inc,
                  "--prometheus", f"127.0.0.1:{port}", out=out)
    t_go = time.time_ns()
    g.send()
    g.wait_line(r"^done \d+$", timeout=20)
    ep = Endpoint(port)

    def ended():
        try:
            return [e for e in mw.read_ndjson(out).of("escalation") if e["state"] == "end"]
        except (OSError, AssertionError):
            return []

    _wait_for(ended, 8, "the escalation's end")
    eq(value(ep.samples(), "memwatch_escalations_total"), 1, "memwatch_escalations_total")
    g.close_stdin()
    idle.close_stdin()
    eq(mw.finish(m), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    tr = mw.read_ndjson(out)
    esc = tr.of("escalation")
    eq(sorted({e["pid"] for e in esc}), [g.pid], "escalated processes")
    states = [e["state"] for e in esc]
    eq(states[:2], ["start", "end"], f"escalation states {states}")
    check(all(s == "refused" for s in states[2:]) and
          all(e.get("reason") == "process_limit" for e in esc[2:]),
          f"later firings refused by the per-process limit: {esc[2:]}")
    start, end = esc[0], esc[1]
    check(start["ts_ns"] >= t_go + 2 * 10**9 - 10**8,
          f"escalated {(start['ts_ns'] - t_go) / 1e9:.2f} s after the go: in the quiet phase")
    check(1.9e9 <= end["ts_ns"] - start["ts_ns"] <= 4e9,
          f"it lasted {(end['ts_ns'] - start['ts_ns']) / 1e9:.2f} s, not about 2 s")
    check("grow_leak" in end.get("top_stack", ""), f"the end names grow_leak: {end}")
    eq(end.get("top_thread", {}).get("comm"), "leaker", f"the top thread: {end}")
    bundle = end["bundle"]
    check(os.path.dirname(bundle) == inc, f"the bundle {bundle} is under {inc}")
    with open(os.path.join(bundle, "summary.txt")) as f:
        summary = f.read()
    check(summary.count("\n") == 1 and "top stack: grow_leak" in summary and "(leaker)" in summary,
          f"summary.txt: {summary!r}")
    check(os.path.getsize(os.path.join(bundle, "heap.pb.gz")) > 0, "heap.pb.gz is empty")
    slice_ = mw.read_ndjson(os.path.join(bundle, "incident.ndjson"))
    rows = [e for e in slice_.of("leak") + slice_.of("fate_unknown")
            if any(fr.get("func") == "grow_leak" for fr in e["stack"])]
    check(rows, f"incident.ndjson has no block of grow_leak: {[e['type'] for e in slice_.events]}")
    # The page memwatch report makes, from the slice: the process, and the leaking function
    # where its blocks are leaks (the page draws leaks; blocks the budget's detached windows
    # left of unknown fate are not leaks).
    with open(os.path.join(bundle, "report.html"), encoding="utf-8") as f:
        page = f.read()
    check(page.startswith("<!DOCTYPE html>") and "grower" in page, f"report.html: {page[:200]!r}")
    if any(e["type"] == "leak" for e in rows):
        check("grow_leak" in page, "report.html does not name grow_leak, a leak in the slice")
    check(slice_.of("process_summary") and slice_.of("thread_summary"),
          "incident.ndjson holds the process's ledger")
    # Off after the end: grower went on to 64 MiB (256 mallocs), the probes saw few more.
    during = slice_.of("malloc_summary")[0]["calls"]["malloc"]
    final = [e for e in tr.of("malloc_summary") if e["pid"] == g.pid][-1]["calls"]["malloc"]
    check(8 <= during and final - during <= 10,
          f"mallocs seen: {during} during the escalation, {final} in all (of 256)")
    schema, problems = manual_schema(), set()
    for e in esc:
        check_object(schema, "escalation", {k: v for k, v in e.items() if k != "type"},
                     schema["(every)"], problems)
    check(not problems, f"escalation keys differ from the manual: {sorted(problems)}")
    err = m.text("err")
    check(f"memwatch: pid {g.pid} (grower): trigger committed+8M/5s: allocation probes on for 2 s"
          in err and f"memwatch: pid {g.pid} (grower): escalation ended, bundle {bundle}; "
          f"top stack: grow_leak" in err, f"the log's escalation lines: {mw.tail(err)!r}")
