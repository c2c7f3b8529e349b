#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Mutation testing of the pure core (`make mutants`): every mutant in tests/mutants/list.txt
(a small planted bug: a file, a snippet that occurs exactly once in it, its replacement, and a
one-line description) is applied on its own to a scratch copy of the tree, the unit tests are
rebuilt there and run, and the mutant is reported as caught (a unit test failed, crashed or hung)
or missed (they all passed). The tree itself is never written to, so an interrupted run (Ctrl-C)
leaves nothing to undo; the scratch copy is removed on the way out.

Prints one line per mutant and a closing line:
    CAUGHT mutants/<name>: <why> (<what failed>)
    MISSED mutants/<name>: <why>
    ERROR  mutants/<name>: <reason>      (the snippet is not found once, or the mutant does not
                                          build: a list to fix, never a pass)
    N caught, N missed[, N errors]
Exits 1 when a mutant was missed or in error, 2 when the unmutated unit tests fail.

usage: run.py [-k SUBSTRING] [-l] [-j JOBS] [-t SECONDS] [--list FILE]
  -k  only the mutants whose name contains SUBSTRING (a comma-separated list: any of them)
  -t  the most a mutated unit-test run may take (default: 10 x the unmutated run, at least 20 s)
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIST = os.path.join(ROOT, "tests", "mutants", "list.txt")
UNIT = ".output/unit_tests"
# What `make .output/unit_tests` reads, and the unit tests read (fixtures, workloads, their
# sources). .output keeps its timestamps (cp -p), so make rebuilds
# only the mutated file's object and relinks the unit tests.
COPIED = ("Makefile", "user", "bpf", "vmlinux", "tests", "tools", ".output")
FIELDS = ("name", "file", "from", "to", "why")


class ListError(Exception):
    pass


def parse_list(path):
    """Blocks of `key: value` lines separated by blank lines; '#' starts a comment line. The
    value is everything after ': ' (leading and trailing blanks dropped)."""
    mutants, cur = [], {}

    def close(lineno):
        if not cur:
            return
        missing = [f for f in FIELDS if f not in cur]
        if missing:
            raise ListError(f"{path}:{lineno}: mutant {cur.get('name', '?')!r} lacks "
                            f"{', '.join(missing)}")
        mutants.append(dict(cur))
        cur.clear()

    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines, 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            close(i)
            continue
        m = re.match(r"^(\w+):\s?(.*)$", line)
        if not m or m.group(1) not in FIELDS:
            raise ListError(f"{path}:{i}: expected one of {', '.join(FIELDS)} as 'key: value'")
        if m.group(1) in cur:
            raise ListError(f"{path}:{i}: {m.group(1)} given twice in one mutant")
        cur[m.group(1)] = m.group(2).strip()
    close(len(lines))
    names = [m["name"] for m in mutants]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ListError(f"{path}: duplicate mutant names: {', '.join(dup)}")
    return mutants


def check_mutant(m):
    """The reason the mutant cannot be applied to the tree's file, or None."""
    path = os.path.join(ROOT, m["file"])
    if not os.path.isfile(path):
        return f"{m['file']} does not exist"
    with open(path, encoding="utf-8") as f:
        n = f.read().count(m["from"])
    if n != 1:
        return f"the snippet {m['from']!r} occurs {n} times in {m['file']}, not once"
    if m["from"] == m["to"]:
        return "the replacement equals the snippet"
    return None


def scratch_copy(d):
    for p in COPIED:
        src = os.path.join(ROOT, p)
        dst = os.path.join(d, p)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.isdir(src):
            shutil.copytree(src, dst, symlinks=True)  # copy2: timestamps kept
        else:
            shutil.copy2(src, dst)


BUILD_TIMEOUT = 300


def build(work, timeout=BUILD_TIMEOUT):
    r = subprocess.run(["make", "-s", "--no-print-directory", UNIT], cwd=work,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout


RUNNING = set()  # unit-test process groups in flight, killed on the way out


def run_unit(work, timeout):
    """(status, failed test names): status 'pass', 'fail', 'crash' or 'timeout'. The tests run
    in a process group of their own, killed whole on a timeout (they start helper processes)."""
    p = subprocess.Popen([os.path.join(work, UNIT)], cwd=work, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, errors="replace",
                         start_new_session=True)
    RUNNING.add(p)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        return "timeout", []
    finally:
        RUNNING.discard(p)
    failed = re.findall(r"^FAIL unit/(\S+)", out, re.M)
    if p.returncode == 0 and not failed:
        return "pass", []
    if p.returncode == 1 and failed:
        return "fail", failed
    return "crash", failed


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def one(m, work, timeout):
    """Apply m in work, build, run, restore. Returns (verdict, detail)."""
    path = os.path.join(work, m["file"])
    with open(path, encoding="utf-8") as f:
        orig = f.read()
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(orig.replace(m["from"], m["to"], 1))
        rc, out = build(work)
        if rc != 0:
            tail = " | ".join(out.strip().splitlines()[-3:])
            return "ERROR", f"does not build: {tail[:300]}"
        status, failed = run_unit(work, timeout)
    finally:
        with open(path, "w", encoding="utf-8") as f:
            f.write(orig)
    if status == "pass":
        return "MISSED", ""
    if status == "timeout":
        return "CAUGHT", f"the unit tests hung (killed after {timeout:.0f} s)"
    if status == "crash":
        return "CAUGHT", "the unit tests crashed" + (f" after failing {', '.join(failed[:3])}"
                                                      if failed else "")
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    return "CAUGHT", f"{len(failed)} failed: {', '.join(failed[:3])}{more}"


def main():
    ap = argparse.ArgumentParser(description="memwatch mutation testing of the pure core")
    ap.add_argument("-k", default="", help="only the mutants whose name contains this "
                                           "(comma-separated: any of them)")
    ap.add_argument("-l", action="store_true", help="list the mutants")
    ap.add_argument("-j", type=int, default=1, help="mutants at a time (a scratch copy each)")
    ap.add_argument("-t", type=float, default=0, help="unit-test run timeout per mutant")
    ap.add_argument("--list", default=LIST, help="the list of mutants (tests/mutants/list.txt)")
    opts = ap.parse_args()
    try:
        keys = opts.k.split(",")
        mutants = [m for m in parse_list(opts.list) if any(k in m["name"] for k in keys)]
    except (ListError, OSError) as e:
        print(f"mutants: {e}", file=sys.stderr)
        return 2
    if opts.l:
        for m in mutants:
            print(f"{m['name']}  {m['file']}: {m['why']}")
        return 0
    if not os.access(os.path.join(ROOT, UNIT), os.X_OK):
        print(f"mutants: {UNIT} is not built (make unit)", file=sys.stderr)
        return 2
    # SIGTERM like Ctrl-C: the finally clauses remove the scratch copies.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    t0 = time.monotonic()
    jobs = max(1, min(opts.j, len(mutants) or 1))
    works = []
    counts = {"CAUGHT": 0, "MISSED": 0, "ERROR": 0}
    try:
        for _ in range(jobs):
            works.append(tempfile.mkdtemp(prefix="mw-mutants-"))
            scratch_copy(works[-1])
        for w in works:
            rc, out = build(w)
            t1 = time.monotonic()
            status, failed = run_unit(w, BUILD_TIMEOUT) if rc == 0 else ("build", [])
            timeout = opts.t or max(20.0, 10 * (time.monotonic() - t1))
            if status != "pass":
                print(f"mutants: the unmutated unit tests do not pass ({status}"
                      f"{': ' + ', '.join(failed[:5]) if failed else ''}); fix that first",
                      file=sys.stderr)
                return 2
        free = list(works)

        def task(m):
            why = check_mutant(m)
            if why:
                return m, "ERROR", why
            w = free.pop()
            try:
                return (m,) + one(m, w, timeout)
            finally:
                free.append(w)

        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            for m, verdict, detail in pool.map(task, mutants):
                counts[verdict] += 1
                tag = verdict if verdict != "ERROR" else "ERROR "
                line = f"{tag} mutants/{m['name']}: {m['why']}"
                if detail:
                    line += f" ({detail})" if verdict != "ERROR" else f": {detail}"
                print(line, flush=True)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    except KeyboardInterrupt:
        print("mutants: interrupted; the tree was not modified", file=sys.stderr)
        return 130
    finally:
        for p in list(RUNNING):
            kill_group(p)
        for w in works:
            shutil.rmtree(w, ignore_errors=True)
    print(f"  mutants: {len(mutants)} in {time.monotonic() - t0:.0f} s, {jobs} at a time",
          flush=True)
    summary = f"{counts['CAUGHT']} caught, {counts['MISSED']} missed"
    if counts["ERROR"]:
        summary += f", {counts['ERROR']} errors"
    print(summary)
    return 1 if counts["MISSED"] or counts["ERROR"] else 0


if __name__ == "__main__":
    sys.exit(main())
