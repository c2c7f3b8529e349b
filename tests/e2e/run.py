#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""End-to-end test runner: finds test_* functions in tests/e2e/test_*.py (in file, then source
order), runs each with a timeout and prints exactly one line per test:
    PASS e2e/<name>        FAIL e2e/<name>: <reason>        SKIP e2e/<name>: <reason>
(with -v, failure details follow on lines starting with two spaces). Exits 1 when a test failed.

A test may SKIP only for a reason on the allow-list (skips.py); anything else that keeps it from
running is a FAIL with its reason. Tests need root, BTF and bpf(): without them every test FAILS
with the reason (a suite that cannot run must not read as green). With CI=true in the
environment, or as root, a run in which no test executed (all skipped, or none selected) fails
too, with the line `FAIL e2e/runner: ...`.

usage: run.py [-v] [-k SUBSTRING]... [-t SECONDS] [-l]   (-k again: a test matching any of them)
"""
import argparse
import ctypes
import glob
import importlib
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mw  # noqa: E402
import skips  # noqa: E402

DEFAULT_TIMEOUT = 45


class Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise Timeout()


def discover():
    tests = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        mod = importlib.import_module(os.path.splitext(os.path.basename(path))[0])
        for name, fn in vars(mod).items():
            if name.startswith("test_") and callable(fn):
                tests.append((name[len("test_"):], fn))
    names = [n for n, _ in tests]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SystemExit(f"run.py: duplicate test names: {sorted(dup)}")
    return tests


def bpf_unavailable():
    """A reason why BPF cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root (run sudo make check)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel has no BTF (/sys/kernel/btf/vmlinux missing)"
    # bpf(BPF_PROG_GET_NEXT_ID): ENOENT or success means the syscall works for us.
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(16)
    nr = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)
    if nr is None:
        return None
    if libc.syscall(nr, 11, attr, 16) != 0:
        err = ctypes.get_errno()
        if err == 38:
            return "kernel without the bpf() syscall (ENOSYS)"
        if err in (1, 13):
            return "bpf() not permitted here (EPERM)"
    return None


def strict_mode():
    """CI=true in the environment, or running as root (sudo make check): an e2e run that
    executed no test is a failure."""
    return os.environ.get("CI", "").lower() in ("true", "1", "yes") or os.geteuid() == 0


def one_line(s, limit=600):
    s = " | ".join(x.strip() for x in str(s).splitlines() if x.strip())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def main():
    ap = argparse.ArgumentParser(description="memwatch end-to-end tests")
    ap.add_argument("-v", action="store_true", help="print failure details")
    ap.add_argument("-k", action="append", default=[],
                    help="run only tests whose name contains this (repeatable: any of them)")
    ap.add_argument("-t", type=float, default=DEFAULT_TIMEOUT, help="default per-test timeout")
    ap.add_argument("-l", action="store_true", help="list the tests")
    opts = ap.parse_args()

    tests = [(n, f) for n, f in discover() if not opts.k or any(k in n for k in opts.k)]
    if opts.l:
        for n, _ in tests:
            print(n)
        return 0
    cannot_run = bpf_unavailable()
    signal.signal(signal.SIGALRM, _alarm)
    failed = executed = 0
    took = []  # (seconds, name): the slowest are named at the end, to keep the suite short
    t0 = time.monotonic()
    for name, fn in tests:
        if cannot_run:
            failed += 1
            print(f"FAIL e2e/{name}: cannot run: {cannot_run}", flush=True)
            continue
        limit = getattr(fn, "timeout", opts.t) * mw.SLOW
        detail = None
        start = time.monotonic()
        try:
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                fn()
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            line = f"PASS e2e/{name}"
        except mw.Skip as e:
            if getattr(e, "reason", None) in skips.ALLOWED:
                line = f"SKIP e2e/{name}: [{e.reason}] {one_line(e)}"
            else:  # not through mw's helpers: never a silent pass
                failed += 1
                line = f"FAIL e2e/{name}: skipped for a reason not on the allow-list " \
                       f"(tests/e2e/skips.py): {one_line(e)}"
        except Timeout:
            failed += 1
            line = f"FAIL e2e/{name}: timed out after {limit:.0f} s"
            detail = traceback.format_exc()
        except AssertionError as e:
            failed += 1
            line = f"FAIL e2e/{name}: {one_line(e)}"
            detail = traceback.format_exc()
        except Exception as e:  # a bug in the test or an unexpected state: still a failure
            failed += 1
            line = f"FAIL e2e/{name}: {type(e).__name__}: {one_line(e)}"
            detail = traceback.format_exc()
        finally:
            try:
                mw.cleanup()
            except Exception as e:
                print(f"  cleanup after {name} failed: {e}", flush=True)
        if not line.startswith("SKIP "):
            executed += 1
        took.append((time.monotonic() - start, name))
        if opts.v:
            line += f"  ({time.monotonic() - start:.1f} s)"
        print(line, flush=True)
        if opts.v and detail:
            for d in detail.rstrip().splitlines():
                print("  " + d, flush=True)
    if not executed and not cannot_run and strict_mode():
        failed += 1
        why = f"all {len(tests)} selected tests skipped" if tests else \
            f"no test matches -k {' -k '.join(opts.k)!r}"
        print(f"FAIL e2e/runner: no test executed ({why}); with CI=true or as root that is a "
              f"failure", flush=True)
    slowest = ", ".join(f"{n} {s:.1f} s" for s, n in sorted(took, reverse=True)[:8])
    print(f"  e2e: {time.monotonic() - t0:.1f} s" + (f"; slowest: {slowest}" if slowest else ""),
          flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
