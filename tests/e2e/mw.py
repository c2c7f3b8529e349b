# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Helpers for the end-to-end tests: start memwatch, workloads and strace; parse NDJSON, strace
output and memwatch's text lines; read /proc; check BPF programs. Python 3 stdlib only.

A test is a function `test_*` in tests/e2e/test_*.py. It fails by raising AssertionError (use
check/eq). It may skip only for a reason on the allow-list (skips.py), through skip_no_sdt_glibc()
or skip_kernel_lacks(); whatever else keeps it from running is a failure with its reason. Every
process started here is killed after the test (its own process group, by id) by cleanup(), which
the runner calls.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import skips

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# MEMWATCH_BIN: another build of memwatch to test (make check-asan sets it to the sanitized one).
MEMWATCH = os.environ.get("MEMWATCH_BIN") or os.path.join(ROOT, "memwatch")
WL_DIR = os.path.join(ROOT, ".output", "workloads")
TRACED = "brk,mmap,munmap,mprotect,mremap,madvise,shmat,shmdt,pkey_mprotect"
ATTACH_TIMEOUT = 15.0

_procs = []
_tmpdirs = []


class Skip(Exception):
    """Raised (through the helpers below) by a test that cannot run here for a reason on the
    allow-list: `reason` is its key in skips.ALLOWED, the message says what exactly."""

    def __init__(self, reason, detail):
        if reason not in skips.ALLOWED:
            raise ValueError(f"skip reason {reason!r} is not on the allow-list (skips.py)")
        super().__init__(detail)
        self.reason = reason


def skip_no_sdt_glibc(detail):
    """The probe-enabled glibc that tools/glibc_sdt.sh builds is not there."""
    raise Skip("glibc_sdt", detail)


def kernel_release():
    """(major, minor) of the running kernel."""
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    check(m, f"cannot parse the kernel release {os.uname().release!r}")
    return int(m.group(1)), int(m.group(2))


def skip_kernel_lacks(feature, detail=""):
    """Skip: the kernel under test lacks `feature` (a key of skips.KERNEL_FEATURES). Refused,
    as a failure, on a kernel at or past the release that brought the feature: there the
    feature is missing because something is broken, and a skip would hide it."""
    if feature not in skips.KERNEL_FEATURES:
        raise ValueError(f"kernel feature {feature!r} is not on the list in skips.py "
                         f"({', '.join(sorted(skips.KERNEL_FEATURES))})")
    since, what = skips.KERNEL_FEATURES[feature]
    have = kernel_release()
    check(have < since, f"{feature} ({what}) is missing on Linux {have[0]}.{have[1]}, which "
                        f"has it since {since[0]}.{since[1]}: {detail or 'not a skip'}")
    raise Skip("kernel_lacks", f"Linux {have[0]}.{have[1]} lacks {feature} ({what}, since "
                               f"{since[0]}.{since[1]})" + (f": {detail}" if detail else ""))


# make check-asan: MEMWATCH_BIN is memwatch built with ASan and UBSan.
ASAN = bool(os.environ.get("MW_ASAN"))
# make check-asan: the sanitized memwatch runs several times slower (it unwinds, seeds and
# exits slower, and takes CPU from the traced process on a small host), so every wait of a test
# and every test's own limit stretch by this much. It changes how long a test may take, never
# what it checks.
SLOW = 3.0 if ASAN else 1.0


def skip_under_asan(detail):
    """The test cannot run against the sanitized memwatch of make check-asan (skips.py, "asan"):
    it measures what sanitizers change (memwatch's own CPU time or memory), preloads another
    allocator into memwatch, or sends more records than the sanitized build drains in time.
    Runs everywhere else."""
    if ASAN:
        raise Skip("asan", detail)


# ---------------------------------------------------------------- assertions

def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def need_tool(name):
    """The path of a tool the test needs. tools/deps.sh (make check) installs every one, so a
    missing one is a failure, not a skip."""
    path = shutil.which(name)
    check(path, f"{name} not installed (tools/deps.sh installs it: make deps)")
    return path


def need_memwatch():
    check(os.access(MEMWATCH, os.X_OK), f"{MEMWATCH} not built (run make memwatch)")
    return MEMWATCH


def wl(name):
    path = os.path.join(WL_DIR, name)
    check(os.access(path, os.X_OK), f"workload {path} not built (run make workloads)")
    return path


def tmpdir():
    d = tempfile.mkdtemp(prefix="mw-e2e-")
    _tmpdirs.append(d)
    return d


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tmpfile(name):
    return os.path.join(tmpdir(), name)


def cleanup():
    """Kill whatever a test left running (only processes started here) and remove temp dirs."""
    while _procs:
        p = _procs.pop()
        p.kill_group()
    while _tmpdirs:
        shutil.rmtree(_tmpdirs.pop(), ignore_errors=True)


# ---------------------------------------------------------------- processes

class Proc:
    """A child process in its own session; stdout/stderr (when piped) read into line lists by
    background threads, so a test can wait for a line while the process runs."""

    def __init__(self, argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, cwd=None, name=None, env=None):
        self.argv = list(argv)
        self.name = name or os.path.basename(self.argv[0])
        self.p = subprocess.Popen(self.argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                  cwd=cwd or ROOT, start_new_session=True, env=env)
        self.pid = self.p.pid
        _procs.append(self)
        self.lines = {"out": [], "err": []}
        self.raw = {"out": bytearray(), "err": bytearray()}
        self.cv = threading.Condition()
        self.readers = []
        for key, f in (("out", self.p.stdout), ("err", self.p.stderr)):
            if f is not None:
                t = threading.Thread(target=self._read, args=(key, f), daemon=True)
                t.start()
                self.readers.append(t)
        self.rc = None

    def _read(self, key, f):
        for line in iter(f.readline, b""):
            with self.cv:
                self.raw[key] += line
                self.lines[key].append(line.decode("utf-8", "replace").rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_line(self, regex, stream="err", timeout=10.0):
        """Wait for a line matching regex (re.search); returns the match."""
        rx = re.compile(regex)
        timeout *= SLOW
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cv:
            while True:
                lines = self.lines[stream]
                for line in lines[seen:]:
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(lines)
                alive = self.p.poll() is None or any(t.is_alive() for t in self.readers)
                left = deadline - time.monotonic()
                if left <= 0 or not alive:
                    why = "timed out" if alive else f"exited (rc {self.p.poll()})"
                    raise AssertionError(
                        f"{self.name}: no {stream} line matching /{regex}/ ({why} after "
                        f"{timeout:.0f} s); std{stream}: {tail(self.text(stream))!r}")
                self.cv.wait(min(left, 0.1))

    def send(self, data=b"g"):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def close_stdin(self):
        if self.p.stdin:
            self.p.stdin.close()

    def wait(self, timeout=30.0, what=None):
        timeout *= SLOW
        try:
            self.rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{what or self.name} did not exit within {timeout:.0f} s; "
                                 f"stderr: {tail(self.text('err'))!r}") from None
        for t in self.readers:
            t.join(5)
        return self.rc

    def signal(self, sig):
        if self.p.poll() is None:
            os.kill(self.pid, sig)

    def kill_group(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            if f:
                try:
                    f.close()
                except OSError:
                    pass

    def text(self, stream="out"):
        with self.cv:
            return self.raw[stream].decode("utf-8", "replace")

    def alive(self):
        return self.p.poll() is None


def tail(s, n=400):
    s = s.strip()
    return s if len(s) <= n else "..." + s[-n:]


def run(argv, timeout=30.0, input=None, cwd=None):
    """Run to completion; returns (rc, stdout, stderr) as text."""
    p = Proc(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL, cwd=cwd)
    if input is not None:
        try:
            p.send(input)
        except BrokenPipeError:
            pass
        p.close_stdin()
    rc = p.wait(timeout)
    return rc, p.text("out"), p.text("err")


def launch(*args, timeout=30.0, input=None):
    """memwatch ARGS with the trace written to a temp file (-o): returns (rc, trace file text,
    stdout, stderr). Use for launch mode, where stdout/stderr belong to the command."""
    out = tmpfile("memwatch.out")
    rc, stdout, err = run([need_memwatch(), "-o", out] + [str(a) for a in args], timeout=timeout,
                          input=input)
    text = ""
    if os.path.exists(out):
        with open(out, encoding="utf-8", errors="replace") as f:
            text = f.read()
    return rc, text, stdout, err


def launch_json(*args, timeout=30.0):
    """memwatch --json -o TMP ARGS: returns (rc, Trace, stderr)."""
    rc, text, _, err = launch("--json", *args, timeout=timeout)
    return rc, Trace(parse_ndjson(text)), err


def workload(name, *args, ready=True):
    """Start a workload with a pipe on stdin; with ready=True (pass -w in args) wait for its
    'ready <pid>' line."""
    p = Proc([wl(name)] + [str(a) for a in args], stdin=subprocess.PIPE, name=name)
    if ready:
        m = p.wait_line(r"^ready (\d+)$")
        eq(int(m.group(1)), p.pid, f"{name}: pid in ready line")
    return p


def memwatch(*args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE):
    need_memwatch()
    return Proc([MEMWATCH] + [str(a) for a in args], stdin=stdin, stdout=stdout, name="memwatch")


def wait_tracing(mw, timeout=ATTACH_TIMEOUT):
    """memwatch prints one 'memwatch: tracing ...' line on stderr once it is attached."""
    return mw.wait_line(r"^memwatch: tracing", "err", timeout)


def attach(pids, *extra, out=None):
    """memwatch [extra] [-o out] -p PIDS, waited until it reports that it is tracing."""
    args = list(extra)
    if out:
        args += ["-o", out]
    args += ["-p", ",".join(str(p) for p in pids)]
    mw = memwatch(*args)
    wait_tracing(mw)
    return mw


def finish(mw, timeout=20.0, what="memwatch"):
    """Wait for memwatch to exit by itself."""
    return mw.wait(timeout, what)


def interrupt(mw, sig=signal.SIGINT, timeout=15.0):
    mw.signal(sig)
    return mw.wait(timeout, f"memwatch after {signal.Signals(sig).name}")


def one_error_line(err, what):
    """The contract: errors are one line on stderr starting 'memwatch: '."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    check(len(lines) == 1 and lines[0].startswith("memwatch: "),
          f"{what}: expected exactly one stderr line starting 'memwatch: ', got {tail(err)!r}")
    return lines[0]


# ---------------------------------------------------------------- NDJSON

def parse_ndjson(text, what="memwatch --json"):
    events = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError(f"{what}: line {i} is not JSON: {line[:160]!r}") from None
        check(isinstance(obj, dict) and isinstance(obj.get("type"), str),
              f"{what}: line {i} is not an object with a 'type': {line[:160]!r}")
        events.append(obj)
    return events


def read_ndjson(path):
    check(os.path.exists(path), f"output file {path} was not created")
    with open(path, encoding="utf-8", errors="replace") as f:
        return Trace(parse_ndjson(f.read(), path))


def addr(v, what="address"):
    """An address as memwatch writes it ("0x...") -> int."""
    check(isinstance(v, str) and v.startswith("0x"), f"{what}: expected an '0x...' string, got {v!r}")
    return int(v, 16)


class Trace:
    """The parsed NDJSON of one memwatch run."""

    def __init__(self, events):
        self.events = events

    def of(self, type_, **match):
        return [e for e in self.events if e.get("type") == type_
                and all(e.get(k) == v for k, v in match.items())]

    def syscalls(self, **match):
        return self.of("syscall", **match)

    def thread_summaries(self, pid=None):
        """Last thread_summary per tid (there may be several with -i)."""
        last = {}
        for e in self.of("thread_summary"):
            if pid is None or e.get("pid") == pid:
                last[e.get("tid")] = e
        return last

    def thread(self, comm, pid=None):
        """The one thread_summary whose comm is `comm`."""
        found = [e for e in self.thread_summaries(pid).values() if e.get("comm") == comm]
        names = sorted({str(e.get("comm")) for e in self.thread_summaries(pid).values()})
        check(len(found) == 1, f"expected one thread_summary with comm {comm!r}, found "
              f"{len(found)} (comms: {names})")
        return found[0]

    def process(self, pid):
        found = self.of("process_summary", pid=pid)
        check(found, f"no process_summary for pid {pid}")
        return found[-1]

    def lost(self):
        return sum(int(e.get("count", 0)) for e in self.of("lost"))


def check_summary(ts, want, what):
    """thread_summary: every call key present and exact; errors/mapped/unmapped/net exact."""
    calls = ts.get("calls")
    check(isinstance(calls, dict), f"{what}: thread_summary has no calls object: {ts}")
    eq(sorted(calls), sorted(want["calls"]), f"{what}: calls keys")
    eq(calls, want["calls"], f"{what}: calls")
    for k in ("errors", "mapped", "unmapped", "net"):
        eq(ts.get(k), want[k], f"{what}: {k}")


def seq_of(trace, tid):
    return [e for e in trace.syscalls(tid=tid)]


def flag_eq(got, want):
    if want == "0":
        return got in ("0", 0)
    return got == want


def check_seq(events, want, what):
    """events: memwatch syscall objects of one thread, in order; want: expect.py tuples."""
    got = [(e.get("name"), e.get("vm_delta"), e.get("error")) for e in events]
    exp = [(w[0], w[1], w[2]) for w in want]
    if got != exp:
        raise AssertionError(f"{what}: syscalls (name, vm_delta, error) differ: "
                             f"{diff_lists(got, exp)}")
    for i, (e, w) in enumerate(zip(events, want)):
        args = e.get("args")
        check(isinstance(args, dict), f"{what}: call {i} ({w[0]}) has no args object")
        for k, v in w[3].items():
            check(flag_eq(args.get(k), v),
                  f"{what}: call {i} {w[0]} args.{k}: expected {v!r}, got {args.get(k)!r}")
        if w[2]:
            eq(e.get("ret"), -1, f"{what}: call {i} {w[0]} ret on error")
        check(isinstance(e.get("ts_ns"), int) and e["ts_ns"] >= 0, f"{what}: call {i}: bad ts_ns: {e}")
        # dur_ns only with -T (timing a call needs a second probe per call)
        check("dur_ns" not in e or (isinstance(e["dur_ns"], int) and e["dur_ns"] >= 0),
              f"{what}: call {i}: bad dur_ns: {e}")


def diff_lists(got, exp):
    for i in range(max(len(got), len(exp))):
        g = got[i] if i < len(got) else "<missing>"
        x = exp[i] if i < len(exp) else "<none>"
        if g != x:
            return (f"first difference at #{i}: got {g}, expected {x} "
                    f"({len(got)} got, {len(exp)} expected)")
    return "equal"


# ---------------------------------------------------------------- strace

def strace_attach(pid, outfile):
    """strace -f -qq -e trace=<the traced calls> -o outfile -p pid; returns once every thread of pid
    has a tracer."""
    need_tool("strace")
    st = Proc(["strace", "-f", "-qq", "-e", "trace=" + TRACED, "-o", outfile, "-p", str(pid)],
              name="strace")
    deadline = time.monotonic() + 10
    while True:
        if all_traced(pid):
            return st
        check(st.alive(), f"strace exited early: {tail(st.text('err'))!r}")
        check(time.monotonic() < deadline, f"strace did not attach to {pid} within 10 s")
        time.sleep(0.02)


def all_traced(pid):
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                m = re.search(r"^TracerPid:\s*(\d+)", f.read(), re.M)
        except FileNotFoundError:
            continue
        if not m or m.group(1) == "0":
            return False
    return True


class SCall:
    def __init__(self, tid, name, args, ret, err, ret_raw=None):
        self.tid, self.name, self.args, self.ret, self.err = tid, name, args, ret, err
        self.ret_raw = ret_raw

    def key(self):
        return (self.name, self.ret, self.err)

    def text(self):
        return f"{self.name}({self.args}) = {self.ret_text()}"

    def ret_text(self):
        if self.err:
            return f"-1 {self.err}"
        return hex(self.ret) if self.name in ("mmap", "mremap", "brk", "shmat") else str(self.ret)

    def __repr__(self):
        return self.text()


_CALL = re.compile(r"^(\w+)\((.*)\)\s+= (.*)$")


def parse_ret(s):
    """strace's ' = ...' part -> (ret int, errno name or None)."""
    s = s.strip()
    m = re.match(r"^-1 (E[A-Z0-9]+)(?: \(.*\))?$", s)
    if m:
        return -1, m.group(1)
    m = re.match(r"^(0x[0-9a-f]+|-?\d+)(?:\s.*)?$", s)
    check(m, f"cannot parse return value {s!r}")
    return int(m.group(1), 0), None


def parse_strace(path):
    """strace -f -o FILE output -> {tid: [SCall, ...]} in order (unfinished/resumed merged)."""
    calls, pending = {}, {}
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            m = re.match(r"^(\d+)\s+(.*)$", line)
            if not m:
                continue
            tid, rest = int(m.group(1)), m.group(2)
            if rest.startswith(("+++", "---")):
                continue
            if rest.endswith(" <unfinished ...>"):
                pending[tid] = rest[: -len(" <unfinished ...>")]
                continue
            r = re.match(r"^<\.\.\. (\w+) resumed>(.*)$", rest)
            if r:
                rest = pending.pop(tid, r.group(1) + "(") + r.group(2)
            c = _CALL.match(rest)
            if not c:
                continue
            ret, err = parse_ret(c.group(3))
            calls.setdefault(tid, []).append(SCall(tid, c.group(1), c.group(2), ret, err,
                                                   c.group(3).strip()))
    return calls


def mw_calls(trace, pid=None):
    """memwatch syscall objects -> {tid: [SCall]} comparable with parse_strace()."""
    out = {}
    for e in trace.syscalls():
        if pid is not None and e.get("pid") != pid:
            continue
        ret = e.get("ret")
        if e.get("error"):
            ret, err = -1, e["error"]
            check(e.get("ret") == -1, f"syscall with error {err} has ret {e.get('ret')!r}")
        else:
            err = None
            if isinstance(ret, str):
                ret = addr(ret, f"{e.get('name')} ret")
        out.setdefault(e.get("tid"), []).append(SCall(e.get("tid"), e.get("name"), None, ret, err))
    return out


# ---------------------------------------------------------------- memwatch text mode

_TEXT = re.compile(r"^(\d\d:\d\d:\d\d\.\d{6}) \[(\d+)/(\d+) ([^\]]*)\] "
                   r"(brk|mmap|munmap|mprotect|mremap|madvise|shmat|shmdt|pkey_mprotect)\((.*)\)\s+= (.*)$")
_TAIL = re.compile(r"^(?P<ret>.*?)(?: <(?P<dur>\d+\.\d+)>)?(?: (?P<vm>vm[+-]?\S+))?"
                   r"(?: (?P<rss>rss[+-]?\S+))?$")


class TLine:
    def __init__(self, m):
        self.ts, self.pid, self.tid, self.comm = m.group(1), int(m.group(2)), int(m.group(3)), \
            m.group(4)
        self.name, self.args = m.group(5), m.group(6)
        t = _TAIL.match(m.group(7))
        self.ret_str, self.dur, self.vm = t.group("ret"), t.group("dur"), t.group("vm")
        self.rss = t.group("rss")  # a known rss_delta: munmap, madvise, mremap
        self.ret, self.err = parse_ret(self.ret_str)


def parse_text(text):
    """memwatch's text output -> list of TLine for syscall lines (other lines ignored)."""
    out = []
    for line in text.splitlines():
        m = _TEXT.match(line)
        if m:
            out.append(TLine(m))
    return out


def parse_human(vm):
    """'vm+64K' / 'vm-8K' / 'vm+128M' / 'vm+0' -> bytes (approximate for fractional units)."""
    m = re.match(r"^vm([+-]?)(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?$", vm)
    check(m, f"cannot parse vm delta {vm!r}")
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m.group(3)]
    v = float(m.group(2)) * mult
    return -v if m.group(1) == "-" else v


# ---------------------------------------------------------------- /proc

def vmsize(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^VmSize:\s+(\d+) kB", f.read(), re.M)
    check(m, f"no VmSize for {pid}")
    return int(m.group(1)) * 1024


IGNORED = {"[stack]", "[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]"}


def prot_of(perms):
    names = [n for c, n in zip(perms[:3], ("PROT_READ", "PROT_WRITE", "PROT_EXEC")) if c != "-"]
    return "|".join(names) or "PROT_NONE"


def proc_maps(pid):
    """/proc/PID/maps -> [(start, end, prot, name)]."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            s, e = (int(x, 16) for x in parts[0].split("-"))
            name = parts[5].strip() if len(parts) > 5 else ""
            out.append((s, e, prot_of(parts[1]), name))
    return out


def coalesce(regions):
    """Merge adjacent regions with equal prot: [(start, end, prot)]."""
    out = []
    for s, e, prot in sorted(regions):
        if out and out[-1][1] == s and out[-1][2] == prot:
            out[-1] = (out[-1][0], e, prot)
        else:
            out.append((s, e, prot))
    return out


def norm_prot(p):
    if p in (None, "", "0"):
        return "PROT_NONE"
    order = ["PROT_READ", "PROT_WRITE", "PROT_EXEC"]
    parts = p.split("|")
    return "|".join(x for x in order if x in parts) or "PROT_NONE"


# ---------------------------------------------------------------- BPF programs

def bpf_progs():
    """{id: name} of every loaded BPF program (bpftool -j prog show)."""
    need_tool("bpftool")
    rc, out, err = run(["bpftool", "-j", "prog", "show"], timeout=20)
    check(rc == 0, f"bpftool prog show failed: {tail(err)!r}")
    return {p["id"]: p.get("name", "") for p in json.loads(out or "[]")}


def held_prog_ids(pid):
    """Ids of the BPF programs process pid holds through its fds (program and link fds both
    show `prog_id:` in fdinfo). Debian's bpftool does not list owner pids, so we look here."""
    ids = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except (FileNotFoundError, PermissionError):
        return ids
    for fd in fds:
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                m = re.search(r"^prog_id:\s*(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return ids


def all_held_prog_ids():
    ids = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            ids |= held_prog_ids(int(d))
    return ids


def check_no_leftover(before, what, owned=()):
    """After a memwatch run exited: every program it held (owned) is gone, and no program that
    appeared since `before` survives without a live holder (a pinned or leaked one). Programs
    held by other live processes (another memwatch run on this machine) are not ours. Freeing
    is asynchronous: poll for up to 3 s."""
    deadline = time.monotonic() + 3
    while True:
        now = bpf_progs()
        held = all_held_prog_ids()
        left = {i: n for i, n in now.items()
                if i in owned or (i not in before and i not in held)}
        if not left:
            return
        if time.monotonic() > deadline:
            names = sorted(f"{n}#{i}" for i, n in left.items())
            raise AssertionError(f"{what}: BPF programs left behind: {', '.join(names)}")
        time.sleep(0.1)


def online_cpus():
    """The machine's online CPUs, as /sys/devices/system/cpu/online lists them (what glibc's
    arena limit, 8 per CPU, and memwatch's copy of it count)."""
    with open("/sys/devices/system/cpu/online") as f:
        text = f.read().strip()
    n = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    check(n >= 1, f"cannot parse /sys/devices/system/cpu/online: {text!r}")
    return n


def arena_limit_run():
    """(threads, arenas besides main) for a run of tests/workloads/arenas that exceeds glibc's
    default arena limit here: 8 x online CPUs arenas counting main, and 4 threads too many."""
    limit = 8 * online_cpus()
    return limit + 4, limit - 1


def free_pid():
    """A pid that does not exist now."""
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    for pid in range(pid_max - 1, 1, -1):
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    raise AssertionError("no free pid")


# ---------------------------------------------------------------- shared runs

def shared(fn):
    """Memoize a run that several tests assert on; a failure (or timeout) is remembered too,
    so the tests that depend on it fail fast with the same reason."""
    memo = {}

    def wrapper():
        if "ok" in memo:
            return memo["ok"]
        if "err" in memo:
            raise AssertionError(f"shared run {fn.__name__} failed earlier: {memo['err']}")
        try:
            memo["ok"] = fn()
        except Skip:
            raise
        except BaseException as e:
            memo["err"] = f"{type(e).__name__}: {e}" if not isinstance(e, AssertionError) \
                else str(e)
            raise
        return memo["ok"]
    wrapper.__name__ = fn.__name__
    return wrapper


def check_regions(trace, pid, maps, what="regions", ignore=()):
    """memwatch's final region map (--maps-at-exit `region` objects of pid) against
    /proc/PID/maps, both coalesced by prot, ignoring [stack], [vvar], [vdso] and the like, and
    the (start, end) ranges in ignore."""
    ignored = [(s, e) for s, e, _, n in maps if n in IGNORED] + list(ignore)
    mine = []
    for r in trace.of("region", pid=pid):
        s, e = addr(r.get("start"), "region start"), addr(r.get("end"), "region end")
        if r.get("name") in IGNORED or any(s < ie and is_ < e for is_, ie in ignored):
            continue
        mine.append((s, e, norm_prot(r.get("prot"))))
    check(mine, f"{what}: no region objects for pid {pid}")
    got = coalesce(mine)
    want = coalesce([(s, e, p) for s, e, p, n in maps if n not in IGNORED
                     and not any(s < ie and is_ < e for is_, ie in ignore)])
    if got != want:
        extra = [fmt_region(x) for x in got if x not in want][:4]
        missing = [fmt_region(x) for x in want if x not in got][:4]
        raise AssertionError(f"{what}: memwatch's map differs from /proc/{pid}/maps "
                             f"({len(got)} vs {len(want)} coalesced regions); only in memwatch: "
                             f"{extra}; only in /proc: {missing}")


def fmt_region(r):
    return f"{r[0]:x}-{r[1]:x} {r[2]}"


class SlowPipe:
    """A FIFO for memwatch -o that nobody reads until drain(): once its 64 KiB buffer is full,
    memwatch blocks in write(2) and its ring buffer must overflow. Overflow is then certain,
    not a matter of timing."""

    def __init__(self):
        self.path = tmpfile("slow.fifo")
        os.mkfifo(self.path)
        # Non-blocking open for reading succeeds without a writer; memwatch's open then succeeds.
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)

    def drain(self, proc, timeout=30.0):
        """Read everything until memwatch (proc) has exited and closed the FIFO."""
        import select
        data = bytearray()
        deadline = time.monotonic() + timeout
        try:
            while True:
                check(time.monotonic() < deadline, f"FIFO not drained within {timeout:.0f} s")
                r, _, _ = select.select([self.fd], [], [], 0.2)
                if not r:
                    if not proc.alive():
                        break
                    continue
                try:
                    chunk = os.read(self.fd, 1 << 20)
                except BlockingIOError:
                    chunk = None
                if chunk:
                    data += chunk
                elif not proc.alive():
                    break  # EOF and the writer is gone
                else:
                    time.sleep(0.05)  # EOF while no writer has it open (yet)
        finally:
            os.close(self.fd)
        return data.decode("utf-8", "replace")


def remove_cgroup(path):
    """Kill what is left in the cgroup at path (after a failure: the test's own processes),
    then rmdir it once they are gone (within 5 s)."""
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            for pid in f.read().split():
                os.kill(int(pid), signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):
        pass
    deadline = time.monotonic() + 5
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
