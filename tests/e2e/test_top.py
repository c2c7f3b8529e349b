# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""memwatch top, driven as a person would: in tmux (send-keys, capture-pane), on a real
process. The process and its threads appear; the exact numbers of its detail view equal the
NDJSON that the same run writes (-o), read after q, which exits 0 and gives the terminal back."""
import os
import re
import subprocess
import time

import mw
from mw import check, eq


class Tmux:
    """A detached tmux server of our own (-L socket), one window of a known size."""

    def __init__(self, cmd, width=200, height=50, term="tmux"):
        self.tmux = mw.need_tool("tmux")
        self.sock = f"mw-e2e-{os.getpid()}-{time.monotonic_ns()}"
        self.rcfile = mw.tmpfile("top.rc")
        script = f"{cmd}; echo $? > {self.rcfile}; sleep 30"
        self.run("new-session", "-d", "-x", str(width), "-y", str(height), "-e",
                 f"TERM={term}", script)

    def run(self, *args):
        r = subprocess.run([self.tmux, "-L", self.sock, "-f", "/dev/null"] + list(args),
                           capture_output=True, text=True, timeout=10)
        check(r.returncode == 0, f"tmux {' '.join(args)}: {r.stderr.strip()!r}")
        return r.stdout

    def keys(self, *keys):
        self.run("send-keys", "-t", "0", *keys)

    def screen(self):
        return self.run("capture-pane", "-p", "-t", "0")

    def wait_screen(self, regex, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            m = re.search(regex, text, re.M)
            if m:
                return m, text
            check(time.monotonic() < deadline,
                  f"no /{regex}/ on the screen within {timeout:.0f} s:\n{text}")
            time.sleep(0.2)

    def exit_status(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.rcfile) or not open(self.rcfile).read().strip():
            check(time.monotonic() < deadline, f"memwatch top did not exit:\n{self.screen()}")
            time.sleep(0.1)
        return int(open(self.rcfile).read())

    def kill(self):
        subprocess.run([self.tmux, "-L", self.sock, "kill-server"], capture_output=True,
                       timeout=10)


def test_top_tmux():
    """top -p on `arenas -t 3 -k`: the list shows the process (name, and its resident bytes,
    read from the kernel's counters); Enter shows its threads arena-1..3 with their exact
    syscall counts and the exact mapped/committed bytes, equal to the NDJSON of the same run;
    the sort and filter keys work; on an 8-colour TERM too; q exits 0."""
    w = mw.workload("arenas", "-w", "-k", "-t", "3")
    out = mw.tmpfile("top.ndjson")
    t = Tmux(f"{mw.need_memwatch()} top --json -o {out} -p {w.pid}", term="xterm")
    try:
        t.wait_screen(rf"^\s*{w.pid} arenas\b")
        w.send()
        w.wait_line(r"^held \d+$")
        time.sleep(2.5)  # two samples after the threads allocated: the list is settled
        m, text = t.wait_screen(rf"^\s*{w.pid} arenas\s+\S+\s+\S+\s+[\d.]+[KMG]\s+\S+\s+3\s")
        t.keys("c")
        t.wait_screen(r"sorted by committed")
        t.keys("/", "z", "z", "z", "Enter")
        t.wait_screen(r"no traced process matches")
        t.keys("/", "BSpace", "BSpace", "BSpace", "Enter")
        t.wait_screen(rf"^\s*{w.pid} arenas")
        t.keys("Enter")
        m, text = t.wait_screen(r"^mapped (\d+) B  committed (\d+) B  resident (\d+) B  "
                                r"threads (\d+)  arenas (\d+)")
        screen_mapped, screen_committed = int(m.group(1)), int(m.group(2))
        screen_resident = int(m.group(3))
        eq((int(m.group(4)), int(m.group(5))), (4, 3), "threads and arenas on the detail view")
        rows = {}
        for line in text.splitlines():
            r = re.match(r"^\s*(\d+) (arena-\d)\s+((?:\d+\s+){7})", line)
            if r:
                rows[r.group(2)] = [int(x) for x in r.group(3).split()]
        eq(sorted(rows), ["arena-1", "arena-2", "arena-3"], f"threads on the screen:\n{text}")
        t.keys("Escape")
        t.wait_screen(r"memwatch top: 1 processes")
        t.keys("q")
        eq(t.exit_status(), 0, "memwatch top exit status")
    finally:
        t.kill()
        w.close_stdin()
    eq(w.wait(30, "arenas"), 0, "arenas exit status")
    tr = mw.read_ndjson(out)
    ps = tr.process(w.pid)
    eq((screen_mapped, screen_committed), (ps["mapped"], ps["committed"]),
       "mapped, committed: screen against the NDJSON process_summary")
    # Held idle meanwhile: the final reading of its counters is the screen's, near enough.
    check(abs(screen_resident - ps["rss_end"]) <= ps["rss_end"] // 20,
          f"resident on the screen {screen_resident} against rss_end {ps['rss_end']}")
    for name, calls in rows.items():
        ts = tr.thread(name, w.pid)
        want = [ts["calls"][k] for k in ("brk", "mmap", "munmap", "mprotect", "mremap",
                                         "madvise")] + [ts["errors"]]
        eq(calls, want, f"{name}: syscall counts on the screen against its thread_summary")
