# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Targets and the command line: launch mode (exit status, stdio passthrough), -f, -p with
several pids, a target exiting or killed mid-trace, SIGINT/SIGTERM to memwatch (clean detach),
-d, -i, -c, -o, -T and the text format."""
import os
import re
import signal
import time

import expect as X
import mw
from mw import check, eq


def test_launch_exit_status():
    """Launch mode returns the command's exit status (exiter -n 5 exits 3) and traces its
    5 mmap/munmap pairs of 64 KiB."""
    out = mw.tmpfile("mw.json")
    rc, stdout, err = mw.run([mw.need_memwatch(), "--json", "-o", out, "--",
                              mw.wl("exiter"), "-n", "5"], timeout=20)
    eq(rc, X.EXITER_STATUS, f"memwatch exit status (stderr {mw.tail(err)!r})")
    eq(stdout, "", "stdout with -o FILE and a silent command")
    tr = mw.read_ndjson(out)
    pid = tr.thread("exiter")["pid"]
    ours = [e for e in tr.syscalls(pid=pid) if e["args"].get("len") == X.EXITER_LEN
            and e["name"] in ("mmap", "munmap")]
    eq([(e["name"], e["vm_delta"]) for e in ours], [("mmap", 65536), ("munmap", -65536)] * 5,
       "exiter's 64 KiB mmap/munmap pairs")
    dead = [e for e in tr.of("exit", pid=pid) if e.get("group_dead")]
    eq([e.get("code") for e in dead], [X.EXITER_STATUS], "exit code in the group_dead exit event")


def test_launch_killed_status():
    """A command killed by a signal: memwatch exits 128 + signal number."""
    for sig, want in (("KILL", 137), ("TERM", 143)):
        rc, _, err = mw.run([mw.need_memwatch(), "-o", "/dev/null", "--", "/bin/sh", "-c",
                             f"kill -{sig} $$"], timeout=20)
        eq(rc, want, f"memwatch exit status for a command killed by SIG{sig} "
           f"(stderr {mw.tail(err)!r})")


def test_launch_stdio_passthrough():
    """The command's stdin, stdout and stderr are passed through (trace to a file with -o)."""
    data = b"hello\nworld\n" * 1000
    rc, out, err = mw.run([mw.need_memwatch(), "-o", "/dev/null", "--", "cat"], input=data,
                          timeout=20)
    eq(rc, 0, f"memwatch -- cat exit status (stderr {mw.tail(err)!r})")
    check(out == data.decode(), f"cat's stdout through memwatch differs ({len(out)} chars)")
    rc, out, err = mw.run([mw.need_memwatch(), "-o", "/dev/null", "--", "/bin/sh", "-c",
                           "echo to-stdout; echo to-stderr >&2; exit 4"], timeout=20)
    eq(rc, 4, "exit status of sh -c '...; exit 4'")
    eq(out, "to-stdout\n", "command's stdout")
    check("to-stderr" in err.splitlines(), f"command's stderr line missing: {mw.tail(err)!r}")


def test_default_output_stderr():
    """Without -o the trace goes to stderr, as strace's does (the contract does not say; this is
    the strace habit): in launch mode stdout stays the command's alone."""
    rc, out, err = mw.run([mw.need_memwatch(), "--json", "--", mw.wl("exiter"), "-n", "2"],
                          timeout=20)
    eq(rc, X.EXITER_STATUS, f"exit status (stderr {mw.tail(err)!r})")
    eq(out, "", "stdout of memwatch --json -- exiter (exiter prints nothing)")
    lines = "\n".join(ln for ln in err.splitlines() if not ln.startswith("memwatch: "))
    mw.Trace(mw.parse_ndjson(lines, "memwatch --json on stderr")).thread("exiter")


def test_launch_without_dashdash():
    """`memwatch [options] COMMAND ARGS` works without `--` too."""
    out = mw.tmpfile("mw.json")
    rc, _, err = mw.run([mw.need_memwatch(), "--json", "-o", out, mw.wl("exiter"), "-n", "2"],
                        timeout=20)
    eq(rc, X.EXITER_STATUS, f"exit status (stderr {mw.tail(err)!r})")
    mw.read_ndjson(out).thread("exiter")


def test_follow_forks():
    """-f with `forker 3`: fork events for 3 children; each child's own events, thread_summary
    (exact), process_summary and exit event with its status; the parent's own tail."""
    rc, tr, err = mw.launch_json("-f", "--", mw.wl("forker"), "3")
    eq(rc, 0, f"memwatch -f -- forker 3 exit status (stderr {mw.tail(err)!r})")
    ppid = tr.thread("forker")["pid"]
    forks = tr.of("fork", pid=ppid)
    eq(len(forks), 3, "fork events from the parent")
    kids = [f.get("child_pid") for f in forks]
    for i, kid in enumerate(kids, 1):
        comm = f"mw-child-{i}"
        ts = tr.thread(comm, kid)
        mw.check_summary(ts, X.forker_child(i), comm)
        evs = tr.syscalls(pid=kid)
        eq([(e["name"], e["vm_delta"]) for e in evs],
           [("mmap", X.FORK_LEN)] * i + [("munmap", -X.FORK_LEN)], f"{comm} events")
        eq(tr.process(kid).get("net"), (i - 1) * X.FORK_LEN, f"{comm} process net")
        dead = [e for e in tr.of("exit", pid=kid) if e.get("group_dead")]
        eq([e.get("code") for e in dead], [i], f"{comm} exit code")
    tail = [(e["name"], e["vm_delta"]) for e in tr.syscalls(pid=ppid)][-3:]
    eq(tail, X.FORKER_PARENT_TAIL, "parent's last three calls")
    eq(tr.process(ppid).get("threads"), 1, "parent process_summary threads")


def test_follow_child_outliving_parent():
    """-f: the launched shell exits at once, its background child (exiter -n 300) keeps
    running; memwatch keeps tracing until that child exits too (exactly 300 pairs), then exits
    with the shell's status 0."""
    t0 = time.monotonic()
    rc, tr, err = mw.launch_json("-f", "--", "/bin/sh", "-c",
                                 f"{mw.wl('exiter')} -n 300 -s 1000 </dev/null >/dev/null & exit 0")
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    check(time.monotonic() - t0 >= 0.3, "memwatch returned before the child could have finished")
    ts = tr.thread("exiter")
    ours = [e for e in tr.syscalls(pid=ts["pid"]) if e["args"].get("len") == X.EXITER_LEN]
    eq(len(ours), 600, "exiter's 64 KiB mmap+munmap events")
    dead = [e for e in tr.of("exit", pid=ts["pid"]) if e.get("group_dead")]
    eq([e.get("code") for e in dead], [X.EXITER_STATUS], "exiter's exit code")


def test_no_follow_without_f():
    """Without -f the children of `forker 2` are not traced."""
    rc, tr, err = mw.launch_json("--", mw.wl("forker"), "2")
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    ppid = tr.thread("forker")["pid"]
    others = {e.get("pid") for e in tr.syscalls()} - {ppid}
    eq(others, set(), "pids with syscall events besides the parent")
    eq([(e["name"], e["vm_delta"]) for e in tr.syscalls(pid=ppid)][-3:], X.FORKER_PARENT_TAIL,
       "parent's last three calls")


def test_attach_two_pids():
    """-p A,B: both processes traced exactly; memwatch exits by itself when both have exited."""
    a, b = mw.workload("brk_ops", "-w"), mw.workload("brk_ops", "-w")
    out = mw.tmpfile("mw.json")
    m = mw.attach([a.pid, b.pid], "--json", out=out)
    a.send()
    b.send()
    eq((a.wait(10), b.wait(10)), (0, 0), "brk_ops exit statuses")
    eq(mw.finish(m, 15), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    tr = mw.read_ndjson(out)
    for w in (a, b):
        mw.check_summary(tr.thread("brk_ops", w.pid), X.BRK_OPS["summary"], f"pid {w.pid}")
        eq([(e["name"], e["vm_delta"]) for e in tr.syscalls(pid=w.pid)], X.BRK_OPS["seq"],
           f"pid {w.pid} brk sequence")


def test_target_exits_mid_trace():
    """-p on `exiter -w -n 300`: the target exits by itself (status 3); memwatch notices,
    prints its summaries and exits 0 by itself; the counts are exact."""
    w = mw.workload("exiter", "-w", "-n", "300", "-s", "1000")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", out=out)
    w.send()
    eq(w.wait(20, "exiter"), X.EXITER_STATUS, "exiter exit status")
    eq(mw.finish(m, 10, "memwatch after the target exited"), 0, "memwatch exit status")
    tr = mw.read_ndjson(out)
    mw.check_summary(tr.thread("exiter", w.pid), X.exiter_summary(300), "exiter main")
    dead = [e for e in tr.of("exit", pid=w.pid) if e.get("group_dead")]
    eq([e.get("code") for e in dead], [X.EXITER_STATUS], "exit code in the group_dead exit")
    eq(tr.process(w.pid).get("net"), 0, "process net")


def test_target_killed_mid_trace():
    """-p on a looping exiter that is SIGKILLed while traced: memwatch exits 0 by itself, and
    the counts it reports are consistent (mmap - munmap in {0, 1})."""
    w = mw.workload("exiter", "-w", "-s", "200")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", out=out)
    w.send()
    time.sleep(0.5)
    w.signal(signal.SIGKILL)
    w.wait(5)
    eq(mw.finish(m, 10, "memwatch after the target was killed"), 0, "memwatch exit status")
    tr = mw.read_ndjson(out)
    c = tr.thread("exiter", w.pid)["calls"]
    check(c["mmap"] > 10 and c["mmap"] - c["munmap"] in (0, 1), f"exiter calls: {c}")
    dead = [e for e in tr.of("exit", pid=w.pid) if e.get("group_dead")]
    eq(len(dead), 1, "group_dead exit events")


def _signal_test(sig):
    w = mw.workload("exiter", "-w")
    out = mw.tmpfile("mw.json")
    before = mw.bpf_progs()
    m = mw.attach([w.pid], "--json", out=out)
    w.send()
    time.sleep(0.5)
    owned = mw.held_prog_ids(m.pid)
    check(owned, "memwatch holds no BPF program while tracing (fdinfo shows no prog_id)")
    rc = mw.interrupt(m, sig)
    eq(rc, 0, f"memwatch exit status after {sig.name} (stderr {mw.tail(m.text('err'))!r})")
    check(w.alive(), "the target died with memwatch")
    tr = mw.read_ndjson(out)
    ts = tr.thread("exiter", w.pid)
    check(ts["calls"]["mmap"] > 5, f"exiter's calls after 0.5 s: {ts['calls']}")
    tr.process(w.pid)
    mw.check_no_leftover(before, f"after {sig.name}", owned)


def test_sigint_detaches():
    """SIGINT while tracing a live exiter: summaries printed, exit 0, no BPF program left."""
    _signal_test(signal.SIGINT)


def test_sigterm_detaches():
    """SIGTERM likewise."""
    _signal_test(signal.SIGTERM)


def test_duration():
    """-d 1 stops after about a second (target still running), with summaries, exit 0."""
    w = mw.workload("exiter", "-w")
    out = mw.tmpfile("mw.json")
    m = mw.memwatch("--json", "-d", "1", "-o", out, "-p", w.pid)
    mw.wait_tracing(m)
    t0 = time.monotonic()
    w.send()
    eq(m.wait(10, "memwatch -d 1"), 0, "memwatch -d 1 exit status")
    dt = time.monotonic() - t0
    check(0.7 <= dt <= 3.5, f"memwatch -d 1 stopped {dt:.2f} s after it started tracing")
    check(w.alive(), "target died")
    tr = mw.read_ndjson(out)
    tr.process(w.pid)
    check(tr.thread("exiter", w.pid)["calls"]["mmap"] > 0, "no mmap counted")


def test_interval_summaries():
    """-i 1 with -d 3: at least two thread_summary objects for the target's thread, with
    non-decreasing counts."""
    w = mw.workload("exiter", "-w")
    out = mw.tmpfile("mw.json")
    m = mw.attach([w.pid], "--json", "-i", "1", "-d", "3", out=out)
    w.send()
    eq(m.wait(10, "memwatch -i 1 -d 3"), 0, "exit status")
    tr = mw.read_ndjson(out)
    sums = tr.of("thread_summary", tid=w.pid)
    check(len(sums) >= 3, f"{len(sums)} thread_summary objects in 3 s with -i 1 (want >= 3: "
          "two periodic, one final)")
    mm = [s["calls"]["mmap"] for s in sums]
    eq(mm, sorted(mm), "mmap counts over time")
    check(mm[-1] > mm[0], f"mmap counts did not grow: {mm}")


def test_summary_only_json():
    """-c --json: no syscall objects, and the same exact per-thread summaries as a full trace."""
    rc, tr, err = mw.launch_json("-c", "--", mw.wl("ops"))
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    eq(len(tr.syscalls()), 0, "syscall objects with -c")
    for comm in X.OPS_ORDER:
        mw.check_summary(tr.thread(comm), X.OPS[comm]["summary"], comm)


def test_summary_only_table():
    """-c: a table at exit (no per-syscall lines) with a row per named thread showing its
    calls; mw-unmapper's row shows its 8 munmaps and mw-brk's row its 5 brks."""
    rc, out, _, err = mw.launch("-c", "--", mw.wl("ops"))
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    eq(mw.parse_text(out), [], "per-syscall lines with -c")
    for comm in X.OPS_ORDER:
        rows = [ln for ln in out.splitlines() if re.search(rf"\b{comm}\b", ln)]
        check(rows, f"no row for {comm} in the -c table: {mw.tail(out)!r}")
    row = [ln for ln in out.splitlines() if "mw-unmapper" in ln][0]
    check(re.search(r"(?<![\d.])8(?![\d.])", row), f"mw-unmapper row lacks its 8 munmaps: {row!r}")
    row = [ln for ln in out.splitlines() if "mw-brk" in ln][0]
    check(re.search(r"(?<![\d.])5(?![\d.])", row), f"mw-brk row lacks its 5 brks: {row!r}")


def test_output_file_text():
    """-o FILE in text mode: stdout stays empty, the file has strace-like lines."""
    out = mw.tmpfile("trace.txt")
    rc, stdout, err = mw.run([mw.need_memwatch(), "-o", out, "--", mw.wl("exiter"), "-n", "3"],
                             timeout=20)
    eq(rc, X.EXITER_STATUS, f"exit status (stderr {mw.tail(err)!r})")
    eq(stdout, "", "stdout with -o")
    with open(out) as f:
        lines = mw.parse_text(f.read())
    ours = [ln for ln in lines if ln.name in ("mmap", "munmap") and ", 65536" in ln.args]
    eq(len(ours), 6, "exiter's 64 KiB mmap/munmap lines")


def test_text_format():
    """Text lines: `HH:MM:SS.uuuuuu [pid/tid comm] name(args as strace) = ret <dur> vm±N`:
    exiter's mmap lines are exactly strace's, -T adds <seconds>, the vm part is +64K/-64K,
    and the time of day is now."""
    out = mw.tmpfile("trace.txt")
    rc, _, err = mw.run([mw.need_memwatch(), "-T", "-o", out, "--", mw.wl("exiter"),
                         "-n", "3"], timeout=20)
    eq(rc, X.EXITER_STATUS, f"exit status (stderr {mw.tail(err)!r})")
    with open(out) as f:
        lines = mw.parse_text(f.read())
    check(lines, "no syscall lines")
    check(all(ln.dur is not None for ln in lines), "a line without <duration> under -T")
    mm = [ln for ln in lines if ln.name == "mmap" and ln.args.startswith("NULL, 65536,")]
    eq(len(mm), 3, "exiter's mmap lines")
    for ln in mm:
        eq(ln.args, "NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0",
           "mmap args")
        check(re.match(r"^0x[0-9a-f]+$", ln.ret_str), f"mmap return {ln.ret_str!r}")
        eq(mw.parse_human(ln.vm or "vm0"), 65536, "vm part of a 64 KiB mmap")
        eq((ln.pid, ln.comm), (ln.tid, "exiter"), "pid/comm of exiter's main thread")
    mu = [ln for ln in lines if ln.name == "munmap" and ln.args.endswith(", 65536")]
    eq(len(mu), 3, "exiter's munmap lines")
    check(all(ln.ret_str == "0" and mw.parse_human(ln.vm or "vm0") == -65536 for ln in mu),
          f"munmap lines: {[(ln.ret_str, ln.vm) for ln in mu]}")
    now = time.localtime()
    h, mi, s = (int(x) for x in mm[0].ts.split(".")[0].split(":"))
    d = abs((h * 3600 + mi * 60 + s) - (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec))
    check(d < 120 or d > 86400 - 120, f"timestamp {mm[0].ts} is not the local time of day")
    rc, _, _ = mw.run([mw.need_memwatch(), "-o", out, "--", mw.wl("exiter"), "-n", "1"],
                      timeout=20)
    with open(out) as f:
        lines = mw.parse_text(f.read())
    check(lines and all(ln.dur is None for ln in lines), "durations printed without -T")


def test_verbose_flag():
    """-v is accepted (libbpf debug output on stderr) and changes nothing else."""
    out = mw.tmpfile("mw.json")
    rc, _, err = mw.run([mw.need_memwatch(), "-v", "--json", "-o", out, "--",
                         mw.wl("exiter"), "-n", "2"], timeout=20)
    eq(rc, X.EXITER_STATUS, f"exit status (stderr {mw.tail(err)!r})")
    mw.read_ndjson(out).thread("exiter")
    check(os.path.getsize(out) > 0, "empty output")


def test_exec_baseline_is_exact():
    """`memwatch -f -- sh -c 'exec ops'`: the exec'd image's baseline keeps only what exec
    mapped (its record may be read late), so ops's threads are exact and the process's net
    equals its VmSize change, as in launch mode."""
    import expect as X
    rc, tr, err = mw.launch_json("-f", "--", "sh", "-c", f"exec {mw.wl('ops')}")
    eq(rc, 0, f"exit status (stderr {mw.tail(err)!r})")
    pid = tr.thread("mw-mapper")["pid"]
    for comm in X.OPS_ORDER:
        mw.check_summary(tr.thread(comm, pid), X.OPS[comm]["summary"], comm)
    ps = [e for e in tr.of("process_summary") if e["pid"] == pid][0]
    eq(ps["net"], ps["vm_end"] - ps["vm_start"], f"net vs VmSize change: {ps}")
    eq(ps["raced"], 0, "calls after an exec do not race its baseline")
