# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Issue 5 end to end, the way a fleet runs it: memwatch as a daemon from a config file that
names the service (--comm) and serves Prometheus; a named workload with known behaviour is
started, stopped and restarted; a real client (curl) scrapes; the values are the workload's
known counts and glibc's own arena count; the restarted process is followed under its new pid,
the dead one's series are gone, a process with another name never appears."""
import os
import re
import shutil
import signal
import subprocess
import uuid

import mw
from mw import check, eq
from test_metrics import Endpoint, has, promtool_check, parse, value, wait_until

THREADS = 4
# arenas -k -t 4, 1 MiB each in 1000-byte blocks (tests/workloads/arenas.c): each arena-N thread
# creates its arena with one mprotect of 132 KiB and grows it with 226 more.
MPROTECTS = 227


def _named_arenas(name):
    path = os.path.join(mw.tmpdir(), name)
    shutil.copy(mw.wl("arenas"), path)
    os.chmod(path, 0o755)
    return path


def _instance(path, name):
    p = mw.Proc([path, "-k", "-t", str(THREADS)], stdin=subprocess.PIPE, name=name)
    m = p.wait_line(r"^held (\d+)$", timeout=30)
    eq(int(m.group(1)), p.pid, "pid in the held line")
    return p


def _check_instance(ep, pid, what):
    """Its series once every thread holds its arena: exact mprotects per named thread, arena
    count; returns the scrape text."""
    def ready():
        s = parse(ep.scrape()[0])
        return s if has(s, "memwatch_arenas", pid=pid) and \
            value(s, "memwatch_arenas", pid=pid) == THREADS else None
    s = wait_until(ready, 10, f"{what}: memwatch_arenas == {THREADS}")
    for i in range(1, THREADS + 1):
        eq(value(s, "memwatch_syscalls_total", pid=pid, thread=f"arena-{i}", syscall="mprotect"),
           MPROTECTS, f"{what}: arena-{i} mprotect calls")
    check(value(s, "memwatch_arena_committed_bytes", pid=pid) >= THREADS * (1 << 20),
          f"{what}: arena committed bytes below {THREADS} MiB")
    return s


def _stop_instance(p, what):
    p.close_stdin()
    eq(p.wait(30), 0, f"{what}: exit status")
    g = re.search(r"^glibc_arenas (\d+)$", p.text("out"), re.M)
    check(g, f"{what}: no glibc_arenas line")
    eq(int(g.group(1)), THREADS, f"{what}: glibc's own arena count (malloc_info)")


def test_daemon_comm_prometheus_follows_restarts():
    name = ("mwf" + uuid.uuid4().hex)[:12]
    path = _named_arenas(name)
    port = mw.free_port()
    ep = Endpoint(port)
    conf = mw.tmpfile("memwatch.conf")
    out = mw.tmpfile("events.ndjson")
    with open(conf, "w") as f:
        f.write(f"# a fleet host's config\ncomm = ^{name}$\nprometheus = 127.0.0.1:{port}\n"
                f"output = {out}\n")
    d = mw.memwatch("daemon", "--config", conf)
    mw.wait_tracing(d)

    other = mw.Proc([mw.wl("arenas"), "-k", "-t", "1"], stdin=subprocess.PIPE, name="arenas")
    other.wait_line(r"^held \d+$", timeout=30)
    first = _instance(path, name)
    _check_instance(ep, first.pid, "first instance")
    text = ep.scrape()[0]
    promtool_check(text, "a scrape of the daemon")
    s = parse(text)
    check(not has(s, "memwatch_syscalls_total", pid=other.pid),
          "a process with another name is in the metrics")
    _stop_instance(first, "first instance")
    wait_until(lambda: not has(parse(ep.scrape()[0]), "memwatch_arenas", pid=first.pid), 10,
               "the exited first instance's series disappear")

    second = _instance(path, name)      # the restart: a new pid, the same name
    check(second.pid != first.pid, "restart got the same pid")
    _check_instance(ep, second.pid, "restarted instance")
    _stop_instance(second, "restarted instance")
    wait_until(lambda: not has(parse(ep.scrape()[0]), "memwatch_arenas", pid=second.pid), 10,
               "the exited second instance's series disappear")
    other.close_stdin()
    other.wait(30)

    rc = mw.interrupt(d, signal.SIGTERM, timeout=20)
    eq(rc, 0, f"daemon exit status after SIGTERM (stderr {mw.tail(d.text('err'))!r})")
    tr = mw.read_ndjson(out)
    for p in (first, second):
        eq(len([e for e in tr.of("arena_create") if e["pid"] == p.pid]), THREADS,
           f"pid {p.pid}: arena_create events in the daemon's NDJSON")
    eq([e for e in tr.events if e.get("pid") == other.pid], [], "events of the other process")
