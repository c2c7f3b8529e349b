# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Bad input: each case exits with the documented code, prints exactly one stderr line
starting `memwatch: `, and leaves no BPF program behind."""
import os
import stat

import mw
from mw import check, eq

PF_KTHREAD = 0x00200000


def _run_bad(args, want_rc, what, timeout=15, user=None, must_mention=()):
    before = mw.bpf_progs()
    argv = [mw.need_memwatch()] + [str(a) for a in args]
    if user:
        argv = [mw.need_tool("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"] + argv
    p = mw.Proc(argv, name="memwatch", cwd="/")
    rc = p.wait(timeout, f"memwatch {what}")
    err = p.text("err")
    eq(rc, want_rc, f"{what}: exit status (stderr {mw.tail(err)!r})")
    line = mw.one_error_line(err, what)
    for word in must_mention:
        check(word in line, f"{what}: error line does not mention {word}: {line!r}")
    mw.check_no_leftover(before, what)
    return line


def kernel_thread_pid():
    """kthreadd (pid 2) where it is visible, else any kernel thread."""
    cands = [2] + sorted(int(d) for d in os.listdir("/proc") if d.isdigit())
    for pid in cands:
        try:
            with open(f"/proc/{pid}/stat") as f:
                flags = int(f.read().rsplit(")", 1)[1].split()[6])
        except (FileNotFoundError, IndexError, ValueError):
            continue
        if flags & PF_KTHREAD:
            return pid
    raise AssertionError("no kernel thread visible in /proc (hidepid, or a pid namespace?)")


def test_no_such_pid():
    _run_bad(["-p", mw.free_pid()], 1, "-p <no such pid>")


def test_kernel_thread_pid():
    _run_bad(["-p", kernel_thread_pid()], 1, "-p <kernel thread>")


def test_one_of_two_pids_missing():
    """-p GOOD,MISSING is an error (nothing silently dropped)."""
    w = mw.workload("exiter", "-w")
    _run_bad(["-p", f"{w.pid},{mw.free_pid()}"], 1, "-p <live pid>,<no such pid>")


def test_command_not_found():
    _run_bad(["--", "/nonexistent/mw-no-such-command"], 127, "-- /nonexistent/cmd")
    _run_bad(["--", "mw-no-such-command-in-path"], 127, "-- <not in PATH>")


def test_command_not_executable():
    path = mw.tmpfile("not-executable")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    _run_bad(["--", path], 126, "-- <file without x permission>")


def test_not_root():
    """As nobody (setpriv): exit 1, and the message names the capabilities needed."""
    _run_bad(["--", "/bin/true"], 1, "as nobody", user="nobody",
             must_mention=("CAP_BPF", "CAP_PERFMON"))


# Usage errors: exit 2. (name, args); "{self}" is replaced by the pid of a live process.
USAGE_CASES = [
    ("p_not_a_number", ["-p", "abc"]),
    ("p_zero", ["-p", "0"]),
    ("p_negative", ["-p", "-5"]),
    ("p_empty", ["-p", ""]),
    ("p_list_with_garbage", ["-p", "{self},abc"]),
    ("p_trailing_comma", ["-p", "{self},"]),
    ("p_missing_value", ["-p"]),
    ("p_and_command", ["-p", "{self}", "--", "/bin/true"]),
    ("no_target", []),
    ("only_options", ["--json", "-c"]),
    ("i_zero", ["-i", "0", "--", "/bin/true"]),
    ("i_not_a_number", ["-i", "x", "--", "/bin/true"]),
    ("d_negative", ["-d", "-1", "--", "/bin/true"]),
    ("d_not_a_number", ["-d", "1s2", "--", "/bin/true"]),
    ("unknown_long_option", ["--bogus", "--", "/bin/true"]),
    ("unknown_short_option", ["-X", "--", "/bin/true"]),
    ("o_missing_value", ["--json", "-o"]),
    ("ring_size_not_power_of_two", ["--ring-size", "12288", "--", "/bin/true"]),
    ("ring_size_too_small", ["--ring-size", "2048", "--", "/bin/true"]),
    ("ring_size_not_a_number", ["--ring-size", "big", "--", "/bin/true"]),
    ("fault_stacks_zero", ["--fault-stacks=0", "--", "/bin/true"]),
    ("fault_stacks_not_a_number", ["--fault-stacks=often", "--", "/bin/true"]),
    ("fault_stacks_trailing_garbage", ["--fault-stacks=8k", "--", "/bin/true"]),
    ("fault_stacks_no_faults", ["--fault-stacks", "--no-faults", "--", "/bin/true"]),
]


def _usage_test(name, args):
    def t():
        live = None
        if any("{self}" in a for a in args):
            live = mw.workload("exiter", "-w")
        real = [a.replace("{self}", str(live.pid)) if live else a for a in args]
        _run_bad(real, 2, "memwatch " + " ".join(repr(a) if not a else a for a in real))
    t.__name__ = "test_usage_" + name
    t.__doc__ = f"usage error: memwatch {' '.join(args)} -> exit 2"
    return t


for _name, _args in USAGE_CASES:
    globals()["test_usage_" + _name] = _usage_test(_name, _args)


def test_kernel_without_btf():
    """A kernel without BTF (simulated: an empty tmpfs over /sys/kernel/btf in a private mount
    namespace): exit 1 with one line that names BTF and the kernel option."""
    unshare = mw.need_tool("unshare")
    before = mw.bpf_progs()
    p = mw.Proc([unshare, "-m", "sh", "-c",
                 'mount -t tmpfs none /sys/kernel/btf && exec "$0" -- true', mw.need_memwatch()],
                name="memwatch", cwd="/")
    rc = p.wait(15, "memwatch without BTF")
    err = p.text("err")
    eq(rc, 1, f"exit status (stderr {mw.tail(err)!r})")
    line = mw.one_error_line(err, "no BTF")
    check("BTF" in line and "CONFIG_DEBUG_INFO_BTF" in line, f"error line: {line!r}")
    mw.check_no_leftover(before, "no BTF")


def _victim(d):
    path = os.path.join(d, "victim")
    with open(path, "w") as f:
        f.write("precious\n")
    return path


def test_output_through_a_link_refused():
    """-o, --record and the daemon's output to a symbolic link (whoever writes the log
    directory could point it at /etc/shadow) or to a file with another hard link: one line,
    exit 1, the other file untouched."""
    d = mw.tmpdir()
    victim = _victim(d)
    link = os.path.join(d, "out.log")
    os.symlink(victim, link)
    w = mw.workload("exiter", "-w")
    for args, what in ((["-o", link, "-p", w.pid], "-o LINK"),
                       (["-o", os.devnull, "--record", link, "-p", w.pid], "--record LINK"),
                       (["-o", link, "--rotate", "1M,2", "-p", w.pid], "-o LINK --rotate"),
                       (["--daemon", "-o", link, "--comm", "^mw-none$"], "--daemon -o LINK")):
        line = _run_bad(args, 1, what, must_mention=(link, "symbolic link"))
        check("memwatch does not write through one" in line, f"{what}: {line!r}")
    hard = os.path.join(d, "hard.log")
    os.link(victim, hard)
    _run_bad(["-o", hard, "-p", w.pid], 1, "-o HARDLINK", must_mention=(hard, "hard links"))
    with open(victim) as f:
        eq(f.read(), "precious\n", "the file the links point at")


def test_comm_regex_blowup_refused():
    """--comm '(ab)++++++++++++++++++++++' made glibc's regcomp take 17 s and 4.1 GB: a usage
    error at once (exit 2, one line), on the command line and in a daemon's config file."""
    import time
    t0 = time.monotonic()
    _run_bad(["--comm", "(ab)++++++++++++++++++++++", "-d", "1"], 2, "--comm <blow-up>",
             must_mention=("repeats too much",))
    conf = os.path.join(mw.tmpdir(), "memwatch.conf")
    with open(conf, "w") as f:
        f.write("comm = a{1,100}{1,100}\n")
    line = _run_bad(["daemon", "--config", conf], 2, "config comm <blow-up>",
                    must_mention=("repeats too much",))
    check(conf in line, f"the config's error names the file: {line!r}")
    check(time.monotonic() - t0 < 5, "refusals took more than 5 s")
