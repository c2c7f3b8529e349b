# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Continuous monitoring: targets by name (--comm) and cgroup (--cgroup), picked up at exec or
fork in the kernel and followed across restarts; NDJSON rotation under a high event rate;
daemon mode with a config file (SIGHUP reload, bad config kept out, SIGTERM); no program left
after SIGKILL; privileges (refusal, and the four capabilities that suffice).

Named targets are copies of the `ops` workload under unique names, so nothing else on the host
matches. Exact numbers come from expect.py (ops' named threads) and from strace of a separate
launch (the main thread of a process picked up at exec: nothing of it may be missed)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import expect as X
import mw
from mw import check, eq


# ---------------------------------------------------------------- helpers

def _name(prefix):
    """A unique process name (comm holds 15 bytes)."""
    return (prefix + uuid.uuid4().hex)[:12]


def _named_ops(name):
    path = os.path.join(mw.tmpdir(), name)
    shutil.copy(mw.wl("ops"), path)
    os.chmod(path, 0o755)
    return path


def _strace_main_calls(argv, rc_want=0):
    """Per-syscall counts of the main thread of a separate launch under strace."""
    mw.need_tool("strace")
    out = mw.tmpfile("strace.txt")
    rc, _, err = mw.run(["strace", "-f", "-qq", "-e", "trace=" + mw.TRACED, "-o", out] + argv,
                        timeout=30)
    eq(rc, rc_want, f"strace {argv[0]} (stderr {mw.tail(err)!r})")
    st = mw.parse_strace(out)
    main = st[min(st)]
    return {s: sum(1 for c in main if c.name == s) for s in X.SYSCALLS}


def _run_to_end(argv):
    p = mw.Proc(argv, name=os.path.basename(argv[0]))
    eq(p.wait(30), 0, f"{argv[0]} exit status (stderr {mw.tail(p.text('err'))!r})")
    return p.pid


def _check_ops_threads(tr, pid, what):
    """Every named thread of ops: exact calls, errors, mapped, unmapped, net."""
    for comm in X.OPS_ORDER:
        mw.check_summary(tr.thread(comm, pid), X.OPS[comm]["summary"], f"{what} {comm}")
    check(tr.process(pid).get("dropped") == 0, f"{what}: records dropped")


def _check_main_exact(tr, pid, want, what):
    main = tr.thread_summaries(pid).get(pid)
    check(main is not None, f"{what}: no thread_summary for the main thread {pid}")
    eq(main["calls"], want, f"{what}: main thread calls (memwatch) vs strace of a separate launch")
    got = {s: 0 for s in X.SYSCALLS}
    for e in tr.syscalls(tid=pid):
        got[e["name"]] += 1
    eq(got, want, f"{what}: main thread syscall events")


def _stop(p, sig=signal.SIGINT):
    rc = mw.interrupt(p, sig, timeout=20)
    eq(rc, 0, f"memwatch exit status after {signal.Signals(sig).name} "
       f"(stderr {mw.tail(p.text('err'))!r})")


def _cgroup2_root():
    """Where cgroup v2 is mounted (mounted on a fresh directory when nowhere; unmounted by
    Cgroup.remove)."""
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup2":
                return fields[1]
    d = tempfile.mkdtemp(prefix="mw-cgroup2-")
    rc, _, err = mw.run(["mount", "-t", "cgroup2", "none", d])
    if rc:
        os.rmdir(d)
        raise AssertionError(f"cannot mount cgroup2: {mw.tail(err)}")
    _UNMOUNT.append(d)
    return d


_UNMOUNT = []


class Cgroup:
    def __init__(self):
        self.path = os.path.join(_cgroup2_root(), "memwatch-e2e-" + uuid.uuid4().hex[:8])
        os.mkdir(self.path)

    def remove(self):
        """rmdir once its processes are gone: they end with the test; after a failure the
        test's own processes left in it are killed first."""
        mw.remove_cgroup(self.path)
        while _UNMOUNT:
            d = _UNMOUNT.pop()
            subprocess.run(["umount", d], check=False)
            os.rmdir(d)


def _in_cgroup(cg, argv, exec_=True):
    """sh moves itself into the cgroup, then execs argv (or forks it, exec_=False)."""
    cmd = " ".join(argv)
    script = f"echo $$ > {cg.path}/cgroup.procs && " + (f"exec {cmd}" if exec_ else f"{cmd}; true")
    return ["/bin/sh", "-c", script]


# ---------------------------------------------------------------- --comm

def test_comm_follows_restarts():
    """--comm '^NAME$': a process already running is picked up, two later launches (a restart)
    are adopted at exec with every call (main thread = strace of a separate launch), ops' named
    threads are exact in all three, and a process with another name is not traced."""
    name = _name("mwc")
    path = _named_ops(name)
    out = mw.tmpfile("comm.json")
    early = mw.Proc([path, "-w"], stdin=subprocess.PIPE, name=name)
    early.wait_line(r"^ready \d+$")
    p = mw.memwatch("--comm", f"^{name}$", "--json", "-o", out)
    mw.wait_tracing(p)
    p.wait_line(rf"^memwatch: pid {early.pid} \({name}\) attached$")
    early.send()
    eq(early.wait(30), 0, "early instance exit status")
    other = _run_to_end([mw.wl("ops")])
    first = _run_to_end([path])
    second = _run_to_end([path])
    time.sleep(0.3)
    _stop(p)
    tr = mw.read_ndjson(out)
    want = _strace_main_calls([path])
    for pid, what in ((early.pid, "running at start"), (first, "launch 1"), (second, "launch 2")):
        _check_ops_threads(tr, pid, what)
    _check_main_exact(tr, first, want, "launch 1")
    _check_main_exact(tr, second, want, "launch 2")
    eq([e for e in tr.events if e.get("pid") == other], [], "events of a process named 'ops'")
    st = tr.of("stats")
    check(st and st[-1]["adopted"] == 3 and st[-1]["kernel"]["adopted"] == 2,
          f"stats: 3 adopted, 2 of them by the kernel: {st[-1:] or 'none'}")


def test_comm_regex_notice():
    """A regex that is not a plain name: the first process is matched in user space from the
    exec notice and attached (its named threads exact); its name then goes to the kernel, so the
    next launch is adopted at exec with every call."""
    name = _name("mwr")
    path = _named_ops(name)
    regex = "^" + name[:3] + "." + name[4:] + "$"
    out = mw.tmpfile("notice.json")
    p = mw.memwatch("--comm", regex, "--comm", "^mw-no-such-name$", "--json", "-o", out)
    mw.wait_tracing(p)
    d = mw.Proc([path, "-w"], stdin=subprocess.PIPE, name=name)
    d.wait_line(r"^ready \d+$")
    p.wait_line(rf"^memwatch: pid {d.pid} \({name}\) attached$")
    d.send()
    eq(d.wait(30), 0, "first instance exit status")
    again = _run_to_end([path])
    time.sleep(0.3)
    _stop(p)
    tr = mw.read_ndjson(out)
    _check_ops_threads(tr, d.pid, "matched from the notice")
    _check_ops_threads(tr, again, "adopted at exec")
    _check_main_exact(tr, again, _strace_main_calls([path]), "adopted at exec")
    st = tr.of("stats")[-1]
    check(st["exec_notices"] >= 1, f"stats: exec notices counted: {st}")


# ---------------------------------------------------------------- --cgroup

def test_cgroup_inside_only():
    """--cgroup DIR (a fresh cgroup v2 directory): a process in it at start, one that execs in
    it, and one forked in it by an untraced shell are traced, exactly; one outside is not."""
    cg = Cgroup()
    try:
        ops = mw.wl("ops")
        out = mw.tmpfile("cgroup.json")
        early = mw.Proc(_in_cgroup(cg, [ops, "-w"]), stdin=subprocess.PIPE, name="ops-early")
        early.wait_line(r"^ready \d+$")
        p = mw.memwatch("--cgroup", cg.path, "--json", "-o", out)
        mw.wait_tracing(p)
        p.wait_line(rf"^memwatch: pid {early.pid} \(ops\) attached$")
        early.send()
        eq(early.wait(30), 0, "early instance exit status")
        inside = _run_to_end(_in_cgroup(cg, [ops]))
        outside = _run_to_end([ops])
        shell = _run_to_end(_in_cgroup(cg, [ops], exec_=False))
        time.sleep(0.3)
        _stop(p)
    finally:
        cg.remove()
    tr = mw.read_ndjson(out)
    want = _strace_main_calls([ops])
    procs = {e["pid"] for e in tr.of("process_summary")}
    forked = procs - {early.pid, inside}
    eq(len(forked), 1, f"one process forked in the cgroup besides the two (traced: {procs})")
    forked = forked.pop()
    for pid, what in ((early.pid, "in the cgroup at start"), (inside, "exec in the cgroup"),
                      (forked, "forked in the cgroup")):
        _check_ops_threads(tr, pid, what)
    _check_main_exact(tr, inside, want, "exec in the cgroup")
    _check_main_exact(tr, forked, want, "forked in the cgroup")
    for pid, what in ((outside, "outside the cgroup"), (shell, "the untraced shell")):
        eq([e for e in tr.events if e.get("pid") == pid], [], f"events of {what}")


def test_cgroup_not_v2():
    """--cgroup on a directory that is not a cgroup v2 one: one line, exit 1."""
    p = mw.Proc([mw.need_memwatch(), "--cgroup", "/tmp"], name="memwatch")
    eq(p.wait(15), 1, "exit status")
    line = mw.one_error_line(p.text("err"), "--cgroup /tmp")
    check("not a cgroup v2 directory" in line, f"error line: {line!r}")


# ---------------------------------------------------------------- rotation

def test_rotation_keeps_every_event():
    """spinner -n 20000 with --rotate 64K,1000: FILE.N .. FILE.1, FILE concatenated hold every
    event once, every line is JSON, no file exceeds 64 KiB, and the syscall events equal the
    kernel's exact counters."""
    d = mw.tmpdir()
    out = os.path.join(d, "events.json")
    rc, _, err = mw.run([mw.need_memwatch(), "--json", "-o", out, "--rotate", "64K,1000",
                         "--ring-size", "16M", "--", mw.wl("spinner"), "-n", "20000"],
                        timeout=60)
    eq(rc, 0, f"memwatch exit status (stderr {mw.tail(err)!r})")
    files = sorted((f for f in os.listdir(d) if f.startswith("events.json.")),
                   key=lambda f: -int(f.rsplit(".", 1)[1]))
    check(len(files) >= 10, f"expected many rotated files, got {len(files)}")
    eq(files[-1], "events.json.1", "newest rotated file")
    eq(int(files[0].rsplit(".", 1)[1]), len(files), "rotated files are numbered 1..N")
    events = []
    for f in files + ["events.json"]:
        path = os.path.join(d, f)
        check(os.path.getsize(path) <= 65536, f"{f}: {os.path.getsize(path)} bytes > 64 KiB")
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        check(not text or text.endswith("\n"), f"{f} ends within a line")
        events += mw.parse_ndjson(text, f)
    tr = mw.Trace(events)
    eq(tr.lost(), 0, "lost records")
    pid = tr.thread("spinner")["pid"]
    main = tr.thread_summaries(pid)[pid]
    got = {s: 0 for s in X.SYSCALLS}
    for e in tr.syscalls(tid=pid):
        got[e["name"]] += 1
    eq(got, main["calls"], "syscall events vs the kernel's counters")
    check(main["calls"]["mmap"] >= 20000 and main["calls"]["munmap"] >= 20000,
          f"spinner's calls: {main['calls']}")
    eq(main["dropped"], 0, "dropped")


def test_rotate_usage():
    """--rotate without -o FILE, or with a bad value: usage errors (exit 2)."""
    for args in (["--rotate", "1M,3", "-p", "1"], ["-o", "x", "--rotate", "1M", "-p", "1"],
                 ["-o", "x", "--rotate", "1M,0", "-p", "1"], ["-o", "-", "--rotate", "1M,2",
                                                              "-p", "1"]):
        rc, _, err = mw.run([mw.need_memwatch()] + args)
        eq(rc, 2, f"memwatch {' '.join(args)}: exit status")
        mw.one_error_line(err, " ".join(args))


def test_stdout_sink():
    """-o -: NDJSON on stdout, for a log shipper."""
    rc, out, err = mw.run([mw.need_memwatch(), "--json", "-o", "-", "--", mw.wl("exiter"), "-n",
                           "2"], timeout=20)
    eq(rc, X.EXITER_STATUS, f"exit status (stderr {mw.tail(err)!r})")
    tr = mw.Trace(mw.parse_ndjson(out, "stdout"))
    pid = tr.thread("exiter")["pid"]
    ours = [(e["name"], e["vm_delta"]) for e in tr.syscalls(pid=pid)
            if e["args"].get("len") == X.EXITER_LEN]
    eq(ours, [("mmap", 65536), ("munmap", -65536)] * 2, "exiter's calls on stdout")


# ---------------------------------------------------------------- daemon

def _write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def _wait_for_line(path, needle, timeout):
    """Until a line of the file holds needle (a periodic object has been written)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(path, encoding="utf-8", errors="replace") as f:
            if needle in f.read():
                return
        check(time.monotonic() < deadline, f"{path}: no line with {needle} in {timeout} s")
        time.sleep(0.1)


def _links_of(prog_ids):
    rc, out, _ = mw.run(["bpftool", "-j", "link", "show"], timeout=20)
    check(rc == 0, "bpftool link show failed")
    return [l for l in json.loads(out or "[]") if l.get("prog_id") in prog_ids]


def test_daemon_sighup_sigterm():
    """memwatch daemon --config FILE: nothing on the terminal; SIGHUP with a new comm regex
    traces a process it did not before; a bad config is refused with FILE:LINE and the old one
    kept; SIGTERM: exit 0, final summaries and stats in the NDJSON file, nothing attached."""
    a, b = _name("mwa"), _name("mwb")
    pa, pb = _named_ops(a), _named_ops(b)
    d = mw.tmpdir()
    conf, out = os.path.join(d, "memwatch.conf"), os.path.join(d, "events.ndjson")
    _write(conf, f"# test config\ncomm = ^{a}$\noutput = {out}\nrotate = 1M,3\ninterval = 1\n")
    before = mw.bpf_progs()
    p = mw.memwatch("daemon", "--config", conf)
    mw.wait_tracing(p)
    owned = mw.held_prog_ids(p.pid)
    check(owned, "the daemon holds BPF programs")
    a1 = _run_to_end([pa])
    b1 = _run_to_end([pb])
    _write(conf, f"comm = ^{a}$\ncomm = ^{b}$\noutput = {out}\nrotate = 1M,3\ninterval = 1\n")
    p.signal(signal.SIGHUP)
    p.wait_line(r"^memwatch: SIGHUP: configuration reloaded$")
    b2 = _run_to_end([pb])
    _write(conf, f"comm = ^{a}$\noutput = {out}\nbogus = 1\n")
    p.signal(signal.SIGHUP)
    m = p.wait_line(r"^memwatch: SIGHUP: (?!configuration reloaded)(.*)$")
    check(f"{conf}:3: unknown key 'bogus'" in m.group(1) and "keeping" in m.group(1),
          f"bad config line: {m.group(0)!r}")
    b3 = _run_to_end([pb])
    _wait_for_line(out, '"type":"stats"', 10)
    _stop(p, signal.SIGTERM)
    eq(p.text("out"), "", "daemon's stdout")
    lines = [ln for ln in p.text("err").splitlines() if not ln.startswith("memwatch: ")]
    eq(lines, [], "daemon's stderr beyond its own log lines")
    tr = mw.read_ndjson(out)
    for pid, what in ((a1, "first name"), (b2, "name added by SIGHUP"),
                      (b3, "name kept after the bad config")):
        _check_ops_threads(tr, pid, what)
    eq([e for e in tr.events if e.get("pid") == b1], [], "events of b before the reload")
    st = tr.of("stats")
    check(len(st) >= 2, "periodic stats objects with interval = 1, and the final one")
    eq((st[-1]["reloads"], st[-1]["reload_errors"]), (1, 1), "reloads in the last stats")
    mw.check_no_leftover(before, "after SIGTERM", owned)
    eq(_links_of(owned), [], "BPF links of the daemon after SIGTERM")


def test_daemon_sighup_keeps_malloc_sampling():
    """A SIGHUP that changes --malloc sampling (sample = 8 -> 100, a new max-probe-rate): the
    daemon says which options it kept, and a workload run after the reload is estimated at the
    rate its probes really sample (8), within 10% of the exact counts. Before, the user side
    weighed samples by 100 while the kernel kept sampling 1 in 8 (12.5x off)."""
    d = mw.tmpdir()
    conf, out = os.path.join(d, "memwatch.conf"), os.path.join(d, "events.ndjson")
    # No overhead budget (the daemon has one by default): its windows would see a few of the
    # workload's calls, too few to weigh an estimate against.
    _write(conf, f"comm = ^leaks$\nmalloc\nmax-overhead = 0\nsample = 8\noutput = {out}\n")
    p = mw.memwatch("daemon", "--config", conf)
    mw.wait_tracing(p)
    _write(conf, f"comm = ^leaks$\nmalloc\nmax-overhead = 0\nsample = 100\n"
           f"max-probe-rate = 10000000\noutput = {out}\n")
    p.signal(signal.SIGHUP)
    m = p.wait_line(r"^memwatch: SIGHUP: (.*) changed: .*kept as they were$")
    eq(m.group(1), "--sample, --max-probe-rate", "options named as kept")
    p.wait_line(r"^memwatch: SIGHUP: configuration reloaded$")
    w = mw.Proc([mw.wl("leaks"), "-r", "40000"], name="leaks")
    eq(w.wait(120), 0, "leaks exit status")
    time.sleep(1)
    _stop(p, signal.SIGTERM)
    tr = mw.read_ndjson(out)
    s = [e for e in tr.of("malloc_summary") if e["pid"] == w.pid]
    check(s, f"no malloc_summary for leaks (pid {w.pid})")
    s = s[-1]
    exact = sum(n for k, n in s["calls"].items() if k not in ("free", "delete", "delete_array"))
    check("8" in s["sampling"] and "100" not in s["sampling"],
          f"sampling reported as {s['sampling']!r}, not as loaded (1 in 8)")
    check(abs(s["estimated_count"] - exact) <= 0.10 * exact,
          f"estimated {s['estimated_count']} allocations, exactly {exact}")


test_daemon_sighup_keeps_malloc_sampling.timeout = 150


def test_daemon_bad_config():
    """An unknown key or a bad value: one line naming FILE:LINE, exit 2."""
    d = mw.tmpdir()
    conf = os.path.join(d, "bad.conf")
    for text, where in (("comm = ^x$\nno-such-option = 1\n", ":2: unknown key"),
                        ("\n# c\ncomm = ^x(\n", ":3: --comm"),
                        ("comm = ^x$\nmax-procs = lots\n", ":2: --max-procs"),
                        ("comm = ^x$\njson = maybe\n", ":2: 'json' is a flag")):
        _write(conf, text)
        rc, _, err = mw.run([mw.need_memwatch(), "daemon", "--config", conf])
        eq(rc, 2, f"exit status for {text!r}")
        line = mw.one_error_line(err, f"config {text!r}")
        check(conf + where in line, f"error line for {text!r}: {line!r}")


def test_sigkill_leaves_nothing():
    """memwatch watching a name and a cgroup, SIGKILLed: no program or link of it remains."""
    cg = Cgroup()
    try:
        before = mw.bpf_progs()
        p = mw.memwatch("--daemon", "--comm", "^mw-none$", "--cgroup", cg.path)
        mw.wait_tracing(p)
        owned = mw.held_prog_ids(p.pid)
        check(owned, "memwatch holds BPF programs")
        p.signal(signal.SIGKILL)
        p.wait(10)
        mw.check_no_leftover(before, "after SIGKILL", owned)
        eq(_links_of(owned), [], "BPF links after SIGKILL")
    finally:
        cg.remove()


# ---------------------------------------------------------------- privileges

def test_unprivileged_refused():
    """As nobody without capabilities: exit 1, one line naming the missing capabilities."""
    setpriv = mw.need_tool("setpriv")
    p = mw.Proc([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                 mw.need_memwatch(), "--comm", "^x$"], name="memwatch", cwd="/")
    eq(p.wait(15), 1, "exit status")
    line = mw.one_error_line(p.text("err"), "as nobody")
    for cap in ("CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"):
        check(cap in line, f"{cap} not named: {line!r}")


def test_capabilities_suffice():
    """As nobody with only CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH:
    memwatch -p traces a root process exactly; without CAP_SYS_PTRACE it is refused naming it."""
    setpriv = mw.need_tool("setpriv")
    caps = "+bpf,+perfmon,+sys_ptrace,+dac_read_search"
    d = mw.tmpdir()
    os.chmod(d, 0o777)
    out = os.path.join(d, "caps.json")
    w = mw.workload("exiter", "-w", "-n", "4")
    p = mw.Proc([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                 "--inh-caps=-all," + caps, "--ambient-caps=" + caps, mw.need_memwatch(),
                 "--json", "-o", out, "-p", str(w.pid)], name="memwatch", cwd="/")
    mw.wait_tracing(p)
    w.send()
    eq(w.wait(20), X.EXITER_STATUS, "exiter exit status")
    eq(p.wait(20), 0, f"memwatch exit status (stderr {mw.tail(p.text('err'))!r})")
    mw.check_summary(mw.read_ndjson(out).thread("exiter", w.pid), X.exiter_summary(4), "exiter")
    less = "+bpf,+perfmon,+dac_read_search"
    p = mw.Proc([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                 "--inh-caps=-all," + less, "--ambient-caps=" + less, mw.need_memwatch(),
                 "--", "/bin/true"], name="memwatch", cwd="/")
    eq(p.wait(15), 1, "exit status without CAP_SYS_PTRACE")
    line = mw.one_error_line(p.text("err"), "without CAP_SYS_PTRACE")
    check("missing capability CAP_SYS_PTRACE:" in line, f"error line: {line!r}")


# ---------------------------------------------------------------- install

def test_install_and_example_config():
    """make install DESTDIR=...: binary, manual, systemd unit (paths for PREFIX, accepted by
    systemd-analyze verify where present) and the example config, which is not replaced on a
    second install; the example config itself runs (its output redirected to a temp file)."""
    root = mw.tmpdir()
    args = ["make", "-s", "--no-print-directory", "-C", mw.ROOT, "install", f"DESTDIR={root}",
            "PREFIX=/usr"]
    rc, _, err = mw.run(args, timeout=120)
    eq(rc, 0, f"make install (stderr {mw.tail(err)!r})")
    unit = os.path.join(root, "usr/lib/systemd/system/memwatch.service")
    conf = os.path.join(root, "etc/memwatch/memwatch.conf")
    man = os.path.join(root, "usr/share/man/man8/memwatch.8")
    for path in (os.path.join(root, "usr/bin/memwatch"), unit, conf, man):
        check(os.path.exists(path), f"{path} not installed")
    with open(unit) as f:
        text = f.read()
    check("ExecStart=/usr/bin/memwatch daemon --config /etc/memwatch/memwatch.conf" in text,
          "unit's ExecStart for PREFIX=/usr")
    check("ExecReload=/bin/kill -HUP $MAINPID" in text and "Type=simple" in text,
          "unit's Type and ExecReload")
    with open(conf, "w") as f:
        f.write("# the operator's own\n")
    rc, _, err = mw.run(args, timeout=120)
    eq(rc, 0, f"second make install (stderr {mw.tail(err)!r})")
    with open(conf) as f:
        eq(f.read(), "# the operator's own\n", "config after a second install")
    if shutil.which("systemd-analyze"):
        local = os.path.join(mw.tmpdir(), "memwatch.service")
        with open(local, "w") as f:
            f.write(text.replace("/usr/bin/memwatch", mw.MEMWATCH))
        rc, out, err = mw.run(["systemd-analyze", "verify", local], timeout=30)
        eq(rc, 0, f"systemd-analyze verify: {mw.tail(out + err)!r}")
    # The example config, as shipped, but writing to a temp file.
    out = mw.tmpfile("events.ndjson")
    with open(os.path.join(mw.ROOT, "tools", "memwatch.conf")) as f:
        example = f.read()
    check("\noutput = /var/log/memwatch/events.ndjson\n" in example, "example's output line")
    local = mw.tmpfile("memwatch.conf")
    with open(local, "w") as f:
        f.write(example.replace("/var/log/memwatch/events.ndjson", out))
    rc, _, err = mw.run([mw.need_memwatch(), "daemon", "--config", local, "-d", "1"], timeout=30)
    eq(rc, 0, f"memwatch daemon with the example config (stderr {mw.tail(err)!r})")
    st = mw.read_ndjson(out).of("stats")
    check(st and st[-1]["max_procs"] == 1024, f"final stats object: {st[-1:]}")


# ---------------------------------------------------------------- guards

def _named_copy(wl_name, name):
    path = os.path.join(mw.tmpdir(), name)
    shutil.copy(mw.wl(wl_name), path)
    os.chmod(path, 0o755)
    return path


def test_max_procs_refusals_counted():
    """--max-procs 2 with four matching processes running: two are traced, two refused, and
    the refusals are in the stats object; the two traced ones are exact."""
    name = _name("mwm")
    path = _named_copy("exiter", name)
    ws = []
    for _ in range(4):
        w = mw.Proc([path, "-w", "-n", "3"], stdin=subprocess.PIPE, name=name)
        w.wait_line(r"^ready \d+$")
        ws.append(w)
    out = mw.tmpfile("guard.json")
    p = mw.memwatch("--comm", f"^{name}$", "--max-procs", "2", "--json", "-o", out)
    mw.wait_tracing(p)
    for w in ws:
        w.send()
        eq(w.wait(20), X.EXITER_STATUS, "exiter exit status")
    time.sleep(0.3)
    _stop(p)
    tr = mw.read_ndjson(out)
    traced = sorted(e["pid"] for e in tr.of("process_summary"))
    eq(len(traced), 2, f"processes traced with --max-procs 2 ({traced})")
    for pid in traced:
        mw.check_summary(tr.thread(name, pid), X.exiter_summary(3), f"traced {pid}")
    st = tr.of("stats")[-1]
    eq((st["adopted"], st["refused"], st["max_procs"]), (2, 2, 2), f"stats {st}")


def test_short_lived_processes_forgotten():
    """60 short-lived matching processes, one after another: each is traced from its exec with
    exact counts and forgotten after its summary (stats: 0 processes left, 60 adopted)."""
    name = _name("mws")
    path = _named_copy("exiter", name)
    out = mw.tmpfile("many.json")
    p = mw.memwatch("--daemon", "--comm", f"^{name}$", "-o", out)
    mw.wait_tracing(p)
    pids = []
    for i in range(60):
        q = mw.Proc([path, "-n", str(1 + i % 3)], name=name)
        eq(q.wait(20), X.EXITER_STATUS, "exiter exit status")
        pids.append((q.pid, 1 + i % 3))
    _wait_for_line(out, f'"pid":{pids[-1][0]},', 10)
    time.sleep(0.3)
    _stop(p, signal.SIGTERM)
    tr = mw.read_ndjson(out)
    for pid, n in pids:
        ours = [(e["name"], e["vm_delta"]) for e in tr.syscalls(pid=pid)
                if e["args"].get("len") == X.EXITER_LEN]
        eq(len(ours), 2 * n, f"pid {pid}: exiter's 64 KiB calls")
        eq(len(tr.of("process_summary", pid=pid)), 1, f"pid {pid}: one process_summary")
    st = tr.of("stats")[-1]
    eq((st["procs"], st["adopted"], st["kernel"]["adopted"]), (0, 60, 60), f"stats {st}")


def test_daemon_retires_exited_threads():
    """Daemon mode keeps a bounded thread table: with --max-threads 4, ops' threads that exit
    while the table holds more than 4 (mw-remap, mw-advise, mw-brk) get their exact
    thread_summary at their exit (before the process ends) and are forgotten; the others are
    summarised at the end as usual."""
    name = _name("mwt")
    path = _named_ops(name)
    out = mw.tmpfile("threads.json")
    p = mw.memwatch("--daemon", "--comm", f"^{name}$", "--max-threads", "4", "-o", out)
    mw.wait_tracing(p)
    pid = _run_to_end([path])
    _wait_for_line(out, '"type":"process_summary"', 10)
    _stop(p, signal.SIGTERM)
    tr = mw.read_ndjson(out)
    kinds = [(e["type"], e.get("comm")) for e in tr.events if e.get("pid") == pid
             and e["type"] in ("thread_summary", "process_summary")]
    eq(kinds[:3], [("thread_summary", c) for c in ("mw-remap", "mw-advise", "mw-brk")],
       "summaries written at the exits of the threads beyond the bound")
    eq(sorted(c for t, c in kinds[3:] if t == "thread_summary"),
       sorted([name, "mw-mapper", "mw-unmapper", "mw-protect"]), "summaries at the end")
    eq(kinds[-1][0], "process_summary", "the process summary comes last")
    _check_ops_threads(tr, pid, "daemon")
    eq(tr.process(pid)["threads"], 4, "threads left in the table at the end")


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_daemon_memory_bounded():
    """A short soak: 400 short-lived processes with 4 threads each (spinner -t 4), traced by
    name in daemon mode: memwatch's RSS after the last 300 is within 1 MiB of its RSS after the
    first 100 (processes and threads are forgotten), and all 400 were adopted."""
    mw.skip_under_asan("measures memwatch's own memory (ASan keeps freed memory in quarantine)")
    name = _name("mwk")
    path = _named_copy("spinner", name)
    out = mw.tmpfile("soak.json")
    p = mw.memwatch("--daemon", "--comm", f"^{name}$", "-o", out, "--summary-only")

    def burst(n):
        for _ in range(n):
            rc = subprocess.run([path, "-t", "4", "-n", "200"], stdin=subprocess.DEVNULL,
                                timeout=20).returncode
            eq(rc, 0, "spinner exit status")

    mw.wait_tracing(p)
    burst(100)
    time.sleep(0.5)
    first = _rss_kb(p.pid)
    burst(300)
    time.sleep(0.5)
    last = _rss_kb(p.pid)
    _stop(p, signal.SIGTERM)
    st = mw.read_ndjson(out).of("stats")[-1]
    eq((st["procs"], st["adopted"]), (0, 400), f"stats {st}")
    check(last - first < 1024, f"memwatch RSS grew from {first} kB to {last} kB")


def test_comm_follows_forked_workers():
    """--comm without -f: children forked by a matched process keep its name (a server's
    workers) and are traced from their fork (forker 3: each child exact)."""
    name = _name("mwf")
    path = _named_copy("forker", name)
    out = mw.tmpfile("forked.json")
    p = mw.memwatch("--comm", f"^{name}$", "--json", "-o", out)
    mw.wait_tracing(p)
    ppid = _run_to_end([path, "3"])
    time.sleep(0.3)
    _stop(p)
    tr = mw.read_ndjson(out)
    kids = [f.get("child_pid") for f in tr.of("fork", pid=ppid)]
    eq(len(kids), 3, "fork events from the parent")
    for i, kid in enumerate(kids, 1):
        comm = f"mw-child-{i}"
        mw.check_summary(tr.thread(comm, kid), X.forker_child(i), comm)
    tail = [(e["name"], e["vm_delta"]) for e in tr.syscalls(pid=ppid)][-3:]
    eq(tail, X.FORKER_PARENT_TAIL, "parent's last three calls")


def _spawn_with_pid(argv, pid, tries=200):
    """Start argv as process `pid` (ns_last_pid, as root); None when other processes on the
    host kept taking it."""
    for _ in range(tries):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if p.pid == pid:
            return p
        p.wait(20)
    return None


def test_pid_reuse_is_a_new_process():
    """One pid, three processes in turn: a matching one (traced), one with another name (not
    traced), a matching one again (traced as a new process, not merged with the first)."""
    check(os.access("/proc/sys/kernel/ns_last_pid", os.W_OK),
          "/proc/sys/kernel/ns_last_pid is not writable: cannot make a pid be reused")
    name = _name("mwp")
    path = _named_copy("exiter", name)
    other = mw.wl("exiter")
    out = mw.tmpfile("reuse.json")
    p = mw.memwatch("--comm", f"^{name}$", "--json", "-o", out)
    mw.wait_tracing(p)
    first = subprocess.Popen([path, "-n", "2"], stdin=subprocess.DEVNULL)
    eq(first.wait(20), X.EXITER_STATUS, "first exit status")
    pid = first.pid
    runs = []
    for argv in ([other, "-n", "5"], [path, "-n", "3"]):
        q = _spawn_with_pid(argv, pid)
        if q is None:
            _stop(p)
            raise AssertionError(f"pid {pid} could not be reused in 200 tries (a host "
                                 f"starting processes without pause)")
        eq(q.wait(20), X.EXITER_STATUS, f"{argv[0]} exit status")
        runs.append(q.pid)
    time.sleep(0.3)
    _stop(p)
    tr = mw.read_ndjson(out)
    summaries = tr.of("process_summary", pid=pid)
    eq(len(summaries), 2, "process summaries for the pid (two matching processes)")
    pairs = [[(e["name"], e["vm_delta"]) for e in tr.syscalls(pid=pid)
              if e["args"].get("len") == X.EXITER_LEN]]
    eq(pairs[0], [("mmap", 65536), ("munmap", -65536)] * (2 + 3),
       "exiter calls of the two matching processes (none of the other one)")
    mains = [e for e in tr.of("thread_summary", pid=pid)]
    eq([m["calls"] for m in mains],
       [_strace_main_calls([path, "-n", "2"], X.EXITER_STATUS),
        _strace_main_calls([path, "-n", "3"], X.EXITER_STATUS)],
       "each matching process's own exact counters (a reused tid starts from zero)")
    eq([m["dropped"] for m in mains], [0, 0], "dropped")


def test_cgroup_process_moved_in():
    """A running process moved into the watched cgroup (no fork, no exec) is found by the
    periodic rescan of cgroup.procs and attached; its calls after that are exact."""
    cg = Cgroup()
    try:
        out = mw.tmpfile("moved.json")
        p = mw.memwatch("--cgroup", cg.path, "--json", "-o", out)
        mw.wait_tracing(p)
        w = mw.workload("exiter", "-w", "-n", "4")
        with open(os.path.join(cg.path, "cgroup.procs"), "w") as f:
            f.write(str(w.pid))
        p.wait_line(rf"^memwatch: pid {w.pid} \(exiter\) attached$", timeout=10)
        w.send()
        eq(w.wait(20), X.EXITER_STATUS, "exiter exit status")
        _wait_for_line(out, f'"type":"process_summary","ts_ns"', 10)
        _stop(p)
    finally:
        cg.remove()
    tr = mw.read_ndjson(out)
    mw.check_summary(tr.thread("exiter", w.pid), X.exiter_summary(4), "moved-in exiter")


def test_daemon_reopens_output_on_sighup():
    """logrotate's way: the output file is moved away, SIGHUP, and memwatch writes a new file
    at the configured path; no line is lost between the two."""
    name = _name("mwo")
    path = _named_copy("exiter", name)
    d = mw.tmpdir()
    out = os.path.join(d, "events.ndjson")
    p = mw.memwatch("daemon", "--comm", f"^{name}$", "-o", out)
    mw.wait_tracing(p)
    first = _run_to_end_status([path, "-n", "2"])
    _wait_for_line(out, f'"pid":{first},', 10)
    os.rename(out, out + ".old")
    p.signal(signal.SIGHUP)
    p.wait_line(r"^memwatch: SIGHUP: configuration reloaded$")
    second = _run_to_end_status([path, "-n", "3"])
    _wait_for_line(out, f'"pid":{second},', 10)
    _stop(p, signal.SIGTERM)
    old, new = mw.read_ndjson(out + ".old"), mw.read_ndjson(out)
    for tr, pid, n, what in ((old, first, 2, "moved file"), (new, second, 3, "new file")):
        ours = [(e["name"], e["vm_delta"]) for e in tr.syscalls(pid=pid)
                if e["args"].get("len") == X.EXITER_LEN]
        eq(ours, [("mmap", 65536), ("munmap", -65536)] * n, f"{what}: exiter's calls")
    eq([e for e in old.events if e.get("pid") == second], [], "second process in the old file")


def _run_to_end_status(argv, status=X.EXITER_STATUS):
    p = mw.Proc(argv, name=os.path.basename(argv[0]))
    eq(p.wait(30), status, f"{argv[0]} exit status")
    return p.pid


def test_daemon_summary_only_keeps_arenas_and_diagnoses():
    """Daemon mode with summary-only: no syscall lines, but arena lifecycle events and
    diagnoses still reach the NDJSON sink (arenas -t 8 with MALLOC_ARENA_MAX=1: one shared
    arena diagnosed; -t 4: arenas created)."""
    name = _name("mwg")
    path = _named_copy("arenas", name)
    out = mw.tmpfile("arenas.json")
    p = mw.memwatch("daemon", "--comm", f"^{name}$", "--summary-only", "-o", out)
    mw.wait_tracing(p)
    shared = mw.Proc(["env", "MALLOC_ARENA_MAX=1", path, "-t", "8"], name=name)
    eq(shared.wait(30), 0, "arenas -t 8 exit status")
    own = _run_to_end([path, "-t", "4"])
    _wait_for_line(out, f'"type":"process_summary","ts_ns"', 10)
    time.sleep(0.5)
    _stop(p, signal.SIGTERM)
    tr = mw.read_ndjson(out)
    eq(tr.syscalls(), [], "syscall lines with summary-only")
    check(tr.of("arena_create", pid=own), "arena_create events of arenas -t 4")
    kinds = {d["kind"] for d in tr.of("diagnosis")}
    check("threads_share_arenas" in kinds, f"diagnoses in daemon mode: {sorted(kinds)}")
