# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Output that cannot be written never stops memwatch: on a full disk (a small tmpfs filled up)
and on a closed pipe the lines are lost and counted (stderr at most once a second, the stats
object, memwatch_output_errors_total), tracing and the metrics endpoint go on, writing resumes
once there is room, no line is left cut in the file, and in launch mode memwatch waits for its
command and exits with its status."""
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request

import mw
from mw import check, eq


@contextlib.contextmanager
def small_tmpfs(size="64k"):
    d = mw.tmpdir()
    rc, _, err = mw.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "mw-e2e", d])
    if rc:
        raise mw.Skip(f"cannot mount a tmpfs: {mw.tail(err)}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", d], check=False)


def fill(d):
    """Fill the file system: returns the filler's path."""
    path = os.path.join(d, "fill")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return path


def whole_json_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    check(not data or data.endswith(b"\n"), f"{path} ends inside a line: {data[-80:]!r}")
    lines = data.decode("utf-8", "replace").splitlines()
    for i, line in enumerate(lines, 1):
        try:
            json.loads(line)
        except ValueError:
            raise AssertionError(f"{path}: line {i} is not JSON (cut by the full disk?): "
                                 f"{line[:120]!r}") from None
    return [json.loads(x) for x in lines]


def _limited(err, what):
    """The lines about failed writes: at most one a second, the rest counted."""
    lines = [ln for ln in err.splitlines() if "cannot write" in ln]
    check(lines, f"{what}: no 'cannot write' line on stderr: {mw.tail(err)!r}")
    return lines


def test_output_full_disk_daemon_goes_on():
    """memwatch daemon -c -i 0.3 --prometheus with -o on a 64 KiB tmpfs: the disk is filled
    while it runs; it stays up, the endpoint answers with memwatch_output_errors_total > 0,
    stderr says so at most once a second; once the filler is removed it writes again (later
    stats objects, with output_errors > 0); every line in the file is whole JSON; SIGTERM:
    exit 0."""
    w = mw.workload("exiter", "-s", "2000", ready=False)
    port = 19000 + os.getpid() % 1000
    with small_tmpfs() as d:
        out = os.path.join(d, "events.ndjson")
        m = mw.memwatch("daemon", "-c", "-i", "0.3", "-p", w.pid, "-o", out,
                        "--prometheus", f"127.0.0.1:{port}")
        mw.wait_tracing(m)
        time.sleep(1)
        filler = fill(d)
        time.sleep(2.5)
        check(m.alive(), f"the daemon exited on a full disk: {mw.tail(m.text('err'))!r}")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        val = [ln for ln in body.decode().splitlines()
               if ln.startswith("memwatch_output_errors_total ")]
        eq(len(val), 1, "memwatch_output_errors_total samples")
        check(float(val[0].split()[1]) > 0, f"metric: {val[0]}")
        os.unlink(filler)
        size_full = os.path.getsize(out)
        time.sleep(1.5)
        check(os.path.getsize(out) > size_full, "nothing written after the disk had room again")
        eq(mw.interrupt(m, signal.SIGTERM, timeout=20), 0, "daemon exit status after SIGTERM")
        objs = whole_json_lines(out)
    err = m.text("err")
    lines = _limited(err, "daemon")
    # ~2.5 s of failures, several writes each: at most one line a second (plus the last).
    check(len(lines) <= 5, f"{len(lines)} 'cannot write' lines: not rate-limited: {lines}")
    check(any("more)" in ln for ln in lines), f"no '(N more)' count: {lines}")
    check(any("again" in ln for ln in err.splitlines()), f"no 'writing ... again': {err!r}")
    stats = [o for o in objs if o.get("type") == "stats"]
    check(stats and stats[-1].get("output_errors", 0) > 0,
          f"stats written after the disk had room: {stats[-1:]}")


def _pid_gone(pid):
    """Reaped (gone), or at worst a zombie about to be: not running on, orphaned."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_output_closed_pipe_launch_keeps_command():
    """`memwatch -o - -- exiter -n 400 -s 1000 | head -1`: once head has gone, memwatch neither
    dies nor leaves the command behind: it exits with the command's status (3) after the
    command ended (it is gone by then), and says the output was lost."""
    script = ('"$0" -o - -- "$1" -n 400 -s 1000 2>"$2" | head -1; '
              'echo "rc=${PIPESTATUS[0]}"')
    errf = mw.tmpfile("err.txt")
    rc, out, _ = mw.run([mw.need_tool("bash"), "-c", script, mw.need_memwatch(),
                         mw.wl("exiter"), errf], timeout=60)
    with open(errf) as f:
        err = f.read()
    lines = out.splitlines()
    eq(len(lines), 2, f"head's line and the status: {out!r} (stderr {mw.tail(err)!r})")
    eq(lines[1], "rc=3", f"memwatch's exit status (the command's) (stderr {mw.tail(err)!r})")
    pid = int(lines[0].split("[", 1)[1].split("/")[0].split()[0])
    gone = _pid_gone(pid)
    if not gone:
        os.kill(pid, signal.SIGKILL)  # what memwatch left behind
    check(gone, f"the command {pid} is still there after memwatch exited")
    _limited(err, "closed pipe")


def test_output_full_disk_launch_exit_status():
    """-o on a full 64 KiB tmpfs in launch mode (exiter -n 2000 writes far more than fits):
    the command runs to its end and memwatch exits with its status (3); the file holds whole
    lines only; stderr counts the failed writes."""
    with small_tmpfs() as d:
        out = os.path.join(d, "trace.ndjson")
        rc, _, err = mw.run([mw.need_memwatch(), "--json", "-o", out, "--", mw.wl("exiter"),
                             "-n", "2000", "-s", "0"], timeout=60)
        eq(rc, 3, f"exit status (the command's) (stderr {mw.tail(err)!r})")
        whole_json_lines(out)
        check(os.path.getsize(out) > 30000, "the file was not filled")
    _limited(err, "full disk, launch mode")
    check("writes of output failed" in err, f"no final count: {mw.tail(err)!r}")


def test_output_sigterm_launch_goes_to_the_command():
    """SIGTERM sent to memwatch alone in launch mode goes on to the command (as strace does),
    memwatch waits for it and exits with its status (128 + 15): the command is not left
    running."""
    p = mw.Proc([mw.need_memwatch(), "-o", mw.tmpfile("t.txt"), "--", mw.wl("exiter"),
                 "-w"], stdin=subprocess.PIPE, name="memwatch")
    m = p.wait_line(r"^ready (\d+)$")
    pid = int(m.group(1))
    try:
        p.signal(signal.SIGTERM)
        rc = p.p.wait(20)
        eq(rc, 128 + signal.SIGTERM, f"exit status (stderr {mw.tail(p.text('err'))!r})")
        check(_pid_gone(pid), f"the command {pid} is still running")
    finally:
        if not _pid_gone(pid):
            os.kill(pid, signal.SIGKILL)  # what memwatch left behind
