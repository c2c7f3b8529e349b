# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What the benches (tools/bench.sh, bench_malloc.sh, bench_sampler.sh, bench_faults.sh) share:
how busy the host is, whether another tracer or `bpf_stats_enabled` would slow the runs down,
waiting for a quiet host within a bounded time, and a free local port. Each bench runs from the
tree's root and imports this with `sys.path.insert(0, "tools")`."""
import json
import socket
import subprocess
import time


def foreign_probes():
    """Other tracers' attachments to the syscall tracepoints (none of the bench's own run between
    runs): they slow down every process, the untraced ones too."""
    r = subprocess.run(["bpftool", "-j", "perf", "show"], capture_output=True, text=True)
    try:
        return sum(1 for e in json.loads(r.stdout or "[]")
                   if e.get("tracepoint", "").startswith(("sys_enter", "sys_exit")))
    except ValueError:
        return 0


def cpu_busy(interval=0.2):
    """Fraction of all CPUs busy over interval (from /proc/stat)."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    return 1 - (i1 - i0) / max(t1 - t0, 1)


def bpf_stats_enabled():
    """Someone's `sysctl kernel.bpf_stats_enabled=1` makes every BPF program slower."""
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


class Settler:
    """Waits for a quiet host before a timed run: CPUs under 15% busy and, with probes=True,
    no other tracer on the syscall tracepoints. budget_s bounds the waiting of the whole bench,
    so that a busy host cannot stall it; a run that starts on a busy host is counted by the
    caller (settle() returns False)."""

    def __init__(self, budget_s, probes=True):
        self.left = budget_s
        self.probes = probes

    def settle(self, limit=10.0):
        start = time.time()
        end = start + min(limit, self.left)
        while True:
            quiet = (not self.probes or foreign_probes() == 0) and cpu_busy() < 0.15
            if quiet or time.time() >= end:
                break
            time.sleep(0.3)
        self.left = max(0.0, self.left - (time.time() - start))
        return quiet


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
